#!/usr/bin/env python3
"""Entry point: see meta_supervisor/jobs/validate.py. Usage: python scripts/validate.py --help"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from meta_supervisor.cli import main

if __name__ == "__main__":
    sys.exit(main("validate"))
