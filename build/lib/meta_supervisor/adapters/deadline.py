"""Wall-clock deadlines for calls to external services (GitHub, SendGrid).

The HTTP clients' timeouts are per socket read: a server that sends its headers and then one byte
every few seconds never trips them (measured: evaluate held for over 7 minutes, and in Actions that
runs into the job timeout and skips the state commit). So every external call runs under a deadline
of its own (`per_call_s`) and under what is left of the run's budget (`run_s`, counted from the
first call of the process):

    limit = min(per_call_s, run budget left);   no budget left: fail at once, without calling.

A call past its limit raises `DeadlineExceeded` (a TimeoutError, so the adapters treat it as an
outage: retried within the budget, then reported, mail kept pending, exit 2). The call itself
keeps running in a daemon thread until its socket gives up or the process exits: Python cannot
stop a thread, and a write that lands late is harmless because every write is find-then-create.

Environment: META_SUPERVISOR_CALL_DEADLINE_S (default 60), META_SUPERVISOR_RUN_DEADLINE_S (default
900: half the supervise job's 30-minute timeout, so the state commit always gets its turn).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from meta_supervisor.core.errors import UserError

T = TypeVar("T")
DEFAULT_CALL_S = 60.0
DEFAULT_RUN_S = 900.0


class DeadlineExceeded(TimeoutError):
    """An external call outlived its deadline (or the run's budget was spent)."""


class Deadlines:
    def __init__(self, per_call_s: float = DEFAULT_CALL_S, run_s: float = DEFAULT_RUN_S, clock=time.monotonic):
        if not (per_call_s > 0 and run_s > 0 and math.isfinite(per_call_s) and math.isfinite(run_s)):
            raise ValueError("deadlines must be positive numbers of seconds")
        self.per_call_s, self.run_s, self._clock = float(per_call_s), float(run_s), clock
        self._started: float | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Deadlines:
        return cls(
            _seconds(env, "META_SUPERVISOR_CALL_DEADLINE_S", DEFAULT_CALL_S),
            _seconds(env, "META_SUPERVISOR_RUN_DEADLINE_S", DEFAULT_RUN_S),
        )

    def left(self) -> float:
        """Seconds of the run's budget left (the budget starts with the first call)."""
        if self._started is None:
            self._started = self._clock()
        return self.run_s - (self._clock() - self._started)

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """`fn()` within min(per_call_s, budget left); its exception, or DeadlineExceeded."""
        limit = min(self.per_call_s, self.left())
        if limit <= 0:
            raise DeadlineExceeded(f"{what}: the run's {self.run_s:g}s budget for external calls is spent")
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["value"] = fn()
            except BaseException as err:  # handed to the caller's thread below
                box["error"] = err

        worker = threading.Thread(target=target, name=f"deadline: {what}", daemon=True)
        worker.start()
        worker.join(limit)
        if worker.is_alive():
            raise DeadlineExceeded(f"{what}: no complete answer within {limit:.0f}s (wall clock)")
        if "error" in box:
            raise box["error"]
        return box["value"]


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    text = (env.get(name) or "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise UserError(f"{name}: expected a positive number of seconds, got {text[:40]!r}")
    return value


_SHARED: Deadlines | None = None


def shared(env: Mapping[str, str] | None = None) -> Deadlines:
    """The process's deadlines (one run budget shared by every adapter), built on first use."""
    global _SHARED
    if _SHARED is None:
        _SHARED = Deadlines.from_env(os.environ if env is None else env)
    return _SHARED
