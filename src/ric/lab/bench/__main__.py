"""`python -m ric.lab.bench NAME ...`: the same benchmarks as `ric bench NAME ...`, without the main CLI."""
import sys

from .cli import main

sys.exit(main())
