"""The lab: what measures RIC rather than what a user runs to protect images.

`attacks` (the security evaluation, `ric attack`), `experiments` (the paper's comparisons, `ric experiment`) and
`bench` (speed, memory and service measurements, `ric bench`). The product (keys, schemes, files, the CLI's
product commands, the service) never imports this package; tests/test_layering.py checks that.
"""
