"""One writer per root: an exclusive lock on the root folder while a job has it open.

Two reconciles at once duplicated every new row (10 of 10 trials); two evaluates at once mailed
twice. Every job opens its root through `Workspace.open`, which takes this lock: a second process
on the same root waits up to META_SUPERVISOR_LOCK_WAIT_S seconds (default 30) and then stops with
one line. The lock is `flock` on the folder itself (no lock file to commit, clean up or leave
behind after a SIGKILL: the kernel drops it with the process). It is counted per process: the demo
opens its root in each of the three jobs it runs; the last `release` (the job's Workspace going
away, files/workspace.py) drops it.
"""

from __future__ import annotations

import errno
import fcntl
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path

from meta_supervisor.core.errors import UserError

DEFAULT_WAIT_S = 30.0
_HELD: dict[str, list[int]] = {}  # resolved root -> [descriptor holding its lock, holders]


def hold(root: Path, env: Mapping[str, str] | None = None) -> str:
    """Take the lock on `root` (or count one more holder in this process); returns the key that
    `release` takes."""
    key = str(Path(root).resolve())
    if key in _HELD:
        _HELD[key][1] += 1
        return key
    wait_s = _wait_s(os.environ if env is None else env)
    fd = os.open(key, os.O_RDONLY | os.O_DIRECTORY)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError as err:
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                os.close(fd)
                raise
            if time.monotonic() >= deadline:
                os.close(fd)
                raise UserError(
                    f"{key}: another meta-supervisor run is using this root (waited {wait_s:g}s); runs on one "
                    "root must not overlap (the workflows share one concurrency group)"
                ) from None
            time.sleep(0.1)
    _HELD[key] = [fd, 1]
    return key


def release(key: str) -> None:
    held = _HELD.get(key)
    if held is None:
        return
    held[1] -= 1
    if held[1] <= 0:
        del _HELD[key]
        os.close(held[0])  # closing the descriptor drops the flock


def _wait_s(env: Mapping[str, str]) -> float:
    text = (env.get("META_SUPERVISOR_LOCK_WAIT_S") or "").strip()
    if not text:
        return DEFAULT_WAIT_S
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value >= 0 and math.isfinite(value)):
        raise UserError(f"META_SUPERVISOR_LOCK_WAIT_S: expected a number of seconds >= 0, got {text[:40]!r}")
    return value
