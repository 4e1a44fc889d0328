#!/usr/bin/env python3
"""Entry point: the same as `meta-supervisor reconcile` (meta_supervisor/jobs/reconcile.py).
Usage: python scripts/reconcile.py --help

Needs the package installed (`make` installs it into .venv in editable mode; a deployment installs
it with the composite action, action.yml).
"""

import sys

from meta_supervisor.cli import main

if __name__ == "__main__":
    sys.exit(main("reconcile"))
