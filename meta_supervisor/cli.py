"""Argument parsing and the error policy for the scripts.

An expected problem (`UserError`) prints one line `<verb>: error: <message>` and exits 1; anything
else is a bug and keeps its traceback. Evaluate exits 2 when it finished but could not deliver
something (mail kept pending, a PR not opened): the state is written, the workflow turns red.
"""
from __future__ import annotations

import argparse
import sys

from meta_supervisor.core.errors import UserError


def _parser(verb: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"scripts/{verb}.py")
    p.add_argument("--root", default=".", help="the repository folder (default: current directory)")
    if verb == "train":
        p.add_argument("--horizons", default="", help="comma-separated horizons to train (default: all)")
        p.add_argument("--force", action="store_true", help="promote the challenger regardless of the champion")
    if verb == "evaluate":
        p.add_argument("--dry-run", action="store_true", help="write proposals and mail to outbox/ only")
    if verb == "demo":
        p.add_argument("--seed", type=int, default=7, help="random seed of the synthetic world")
    return p


def _horizons(text: str) -> list[int] | None:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        return None
    try:
        return [int(t) for t in items]
    except ValueError:
        raise UserError(f"--horizons {text!r}: expected comma-separated whole hours, e.g. 1,4,24") from None


def main(verb: str, argv=None) -> int:
    args = _parser(verb).parse_args(argv)
    try:
        if verb == "reconcile":
            from meta_supervisor.jobs import reconcile
            reconcile.run(args.root)
            return 0
        if verb == "train":
            from meta_supervisor.jobs import train
            train.run(args.root, horizons=_horizons(args.horizons), force=args.force)
            return 0
        if verb == "evaluate":
            from meta_supervisor.jobs import evaluate
            return evaluate.run(args.root, dry_run=args.dry_run).exit_code
        if verb == "demo":
            from meta_supervisor.jobs import demo
            return demo.run(args.root, seed=args.seed)
        raise AssertionError(verb)
    except UserError as err:
        print(f"{verb}: error: {err}", file=sys.stderr)
        return 1
