"""Argument parsing and the error policy for the scripts (one verb, one entry point, one exit code).

Exit codes (the workflows report each one differently, so they must tell the truth):
- 0 done;
- 1 an expected problem: a `UserError` (bad policy, bad `--now`, ...) or an `OSError` (disk full,
  permissions, a missing folder: the machine's problem, not the program's), one line
  `<verb>: error: <message>`;
- 2 evaluate finished but could not deliver something (mail kept pending, a PR not opened): the
  state is written, the workflow turns red;
- 3 a bug: any other exception, with its traceback and one last line saying so.
Each verb is a pair (add its arguments, run it); the jobs are imported only when their verb runs.
"""

from __future__ import annotations

import argparse
import errno
import sys
import traceback
from collections.abc import Callable

from meta_supervisor.core.errors import UserError
from meta_supervisor.core.timeutil import format_ts, parse_ts


def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--horizons", default="", help="comma-separated horizons to train (default: all)")
    p.add_argument("--force", action="store_true", help="promote the challenger regardless of the champion")


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run", action="store_true", help="write proposals and mail to outbox/ only")


def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=7, help="random seed of the synthetic world")


def _report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", help="where to write the HTML page (default: report/index.html under --root)")


def _report(args) -> int:
    from meta_supervisor.jobs import report

    report.run(args.root, out=args.out, now=args.now)
    return 0


def _validate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="*", help="policy files to check (default: every policy file under --root)")


def _validate(args) -> int:
    from meta_supervisor.jobs import validate

    return validate.run(args.root, args.files)


def _reconcile(args) -> int:
    from meta_supervisor.jobs import reconcile

    reconcile.run(args.root, now=args.now)
    return 0


def _train(args) -> int:
    from meta_supervisor.jobs import train

    train.run(args.root, horizons=_horizons(args.horizons), force=args.force, now=args.now)
    return 0


def _evaluate(args) -> int:
    from meta_supervisor.jobs import evaluate

    return evaluate.run(args.root, dry_run=args.dry_run, now=args.now).exit_code


def _demo(args) -> int:
    from meta_supervisor.jobs import demo

    return demo.run(args.root, seed=args.seed)


VERBS: dict[str, tuple[Callable[[argparse.ArgumentParser], None] | None, Callable[..., int]]] = {
    "reconcile": (None, _reconcile),
    "train": (_train_args, _train),
    "evaluate": (_evaluate_args, _evaluate),
    "demo": (_demo_args, _demo),
    "report": (_report_args, _report),
    "validate": (_validate_args, _validate),
}
NO_CLOCK = ("demo", "validate")  # verbs without --now


def _now(text: str | None) -> str | None:
    """`--now`: the moment the run acts as if it were (a replay of a past period); default the clock."""
    if text is None:
        return None
    try:
        return format_ts(parse_ts(text))
    except ValueError as err:
        raise UserError(f"--now {text!r}: {err} (expected ISO 8601 with a zone, e.g. 2026-11-24T10:00:00Z)") from None


def _horizons(text: str) -> list[int] | None:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        return None
    try:
        return [int(t) for t in items]
    except ValueError:
        raise UserError(f"--horizons {text!r}: expected comma-separated whole hours, e.g. 1,4,24") from None


def console(argv=None) -> int:
    """`meta-supervisor <verb> [options]` (the console script) and `meta-supervisor --version`."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--version"]:
        from meta_supervisor import __version__

        print(f"meta-supervisor {__version__}")
        return 0
    usage = f"usage: meta-supervisor {{{','.join(VERBS)}}} [--root DIR] [options] | --version"
    if not argv or argv[0] in ("-h", "--help"):
        print(usage + "\n(meta-supervisor <verb> --help for a verb's options)")
        return 0
    if argv[0] not in VERBS:
        print(f"meta-supervisor: unknown verb {argv[0]!r}\n{usage}", file=sys.stderr)
        return 1
    return main(argv[0], argv[1:], prog=f"meta-supervisor {argv[0]}")


def main(verb: str, argv=None, prog: str | None = None) -> int:
    add_args, run = VERBS[verb]
    parser = argparse.ArgumentParser(prog=prog or f"scripts/{verb}.py")
    parser.add_argument("--root", default=".", help="the repository folder (default: current directory)")
    if verb not in NO_CLOCK:
        parser.add_argument("--now", help="act as if it were this ISO 8601 time (replays); default: the clock")
    if add_args is not None:
        add_args(parser)
    args = parser.parse_args(argv)
    try:
        if verb not in NO_CLOCK:
            args.now = _now(args.now)
        return run(args)
    except UserError as err:  # the one error handler
        print(f"{verb}: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"{verb}: error: {_os_problem(err)}", file=sys.stderr)
        return 1
    except Exception:
        traceback.print_exc()
        print(f"{verb}: internal error (a bug, exit 3): the traceback above says where", file=sys.stderr)
        return 3


def _os_problem(err: OSError) -> str:
    """One line for an operating-system error: what failed, on which file, and what to do for the
    common ones. A network error reaching here (adapters handle theirs) is said as such."""
    where = f"{err.filename}: " if err.filename else ""
    what = err.strerror or type(err).__name__
    hint = {
        errno.ENOSPC: " (the disk is full: free space and re-run; nothing was half-written)",
        errno.EACCES: " (permission denied: check the checkout's owner and mode)",
        errno.EROFS: " (a read-only file system)",
    }.get(err.errno or 0, "")
    return f"{where}{what}{hint}"
