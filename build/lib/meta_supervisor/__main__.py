"""`python -m meta_supervisor <verb> ...`: the same as the `meta-supervisor` console script."""

import sys

from meta_supervisor.cli import console

sys.exit(console())
