"""Crash-test hook: META_SUPERVISOR_FAILPOINT=<name> kills the process at the named point, as a
power cut would (SIGKILL: no cleanup, no atexit). Used by the crash-safety tests only; the names
are listed where `failpoint` is called (reconcile: after_append; evaluate: mail_queued,
alerts_recorded)."""

from __future__ import annotations

import os
import signal


def failpoint(name: str) -> None:
    if os.environ.get("META_SUPERVISOR_FAILPOINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
