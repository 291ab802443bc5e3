"""`ric bench NAME`: the measurements behind docs/results.md (speed, schemes, classify, service, phi-reach,
sealed-attack). The parsers live in ric.lab.bench.cli; each benchmark is one module, imported only when it runs."""
