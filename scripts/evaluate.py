#!/usr/bin/env python3
"""Entry point: the same as `meta-supervisor evaluate` (meta_supervisor/jobs/evaluate.py).
Usage: python scripts/evaluate.py --help

Needs the package installed (`make` installs it into .venv in editable mode; a deployment installs
it with the composite action, action.yml).
"""

import sys

from meta_supervisor.cli import main

if __name__ == "__main__":
    sys.exit(main("evaluate"))
