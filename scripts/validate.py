#!/usr/bin/env python3
"""Entry point: the same as `meta-supervisor validate` (meta_supervisor/jobs/validate.py).
Usage: python scripts/validate.py --help

Needs the package installed (`make` installs it into .venv in editable mode; a deployment installs
it with the composite action, action.yml).
"""

import sys

from meta_supervisor.cli import main

if __name__ == "__main__":
    sys.exit(main("validate"))
