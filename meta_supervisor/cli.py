"""Argument parsing and the error policy for the scripts (one verb, one entry point, one exit code).

An expected problem (`UserError`) prints one line `<verb>: error: <message>` and exits 1; anything
else is a bug and keeps its traceback. Evaluate exits 2 when it finished but could not deliver
something (mail kept pending, a PR not opened): the state is written, the workflow turns red.
Each verb is a pair (add its arguments, run it); the jobs are imported only when their verb runs.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from meta_supervisor.core.errors import UserError


def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--horizons", default="", help="comma-separated horizons to train (default: all)")
    p.add_argument("--force", action="store_true", help="promote the challenger regardless of the champion")


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run", action="store_true", help="write proposals and mail to outbox/ only")


def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=7, help="random seed of the synthetic world")


def _reconcile(args) -> int:
    from meta_supervisor.jobs import reconcile
    reconcile.run(args.root)
    return 0


def _train(args) -> int:
    from meta_supervisor.jobs import train
    train.run(args.root, horizons=_horizons(args.horizons), force=args.force)
    return 0


def _evaluate(args) -> int:
    from meta_supervisor.jobs import evaluate
    return evaluate.run(args.root, dry_run=args.dry_run).exit_code


def _demo(args) -> int:
    from meta_supervisor.jobs import demo
    return demo.run(args.root, seed=args.seed)


VERBS: dict[str, tuple[Callable[[argparse.ArgumentParser], None] | None, Callable[..., int]]] = {
    "reconcile": (None, _reconcile),
    "train": (_train_args, _train),
    "evaluate": (_evaluate_args, _evaluate),
    "demo": (_demo_args, _demo),
}


def _horizons(text: str) -> list[int] | None:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        return None
    try:
        return [int(t) for t in items]
    except ValueError:
        raise UserError(f"--horizons {text!r}: expected comma-separated whole hours, e.g. 1,4,24") from None


def main(verb: str, argv=None) -> int:
    add_args, run = VERBS[verb]
    parser = argparse.ArgumentParser(prog=f"scripts/{verb}.py")
    parser.add_argument("--root", default=".", help="the repository folder (default: current directory)")
    if add_args is not None:
        add_args(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except UserError as err:  # the one error handler
        print(f"{verb}: error: {err}", file=sys.stderr)
        return 1
