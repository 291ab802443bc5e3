"""`python -m ric.cli ...` (what torchrun runs): the `ric` command."""
import sys

from . import main

sys.exit(main())
