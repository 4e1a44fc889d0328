"""Wall-clock deadlines on external calls: a server that sends its headers and then one byte every
so often never trips a per-read timeout; the deadline stops the call, the run goes on. Also: secrets
inside service URLs never reach messages or files."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from meta_supervisor.adapters.deadline import DeadlineExceeded, Deadlines
from meta_supervisor.adapters.github_rest.proposer import PullRequests
from meta_supervisor.adapters.github_rest.transport import PullsError
from meta_supervisor.adapters.mail.mailbox import deliver
from meta_supervisor.adapters.mail.sendgrid_mailer import MailDeliveryError, SendgridMailer, mailer_from_env
from tests.test_mail import msg


class Trickle:
    """HTTP/1.1 on 127.0.0.1: answers 200 with Content-Length 200, then sends one byte every
    `interval_s` (a per-read timeout longer than the interval is never reached)."""

    def __init__(self, interval_s: float = 0.3):
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _trickle(self):
                owner.requests += 1
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "200")
                self.end_headers()
                try:
                    for _ in range(200):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        time.sleep(interval_s)
                except OSError:
                    pass

            do_GET = do_POST = do_PATCH = _trickle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def trickle():
    server = Trickle()
    yield server
    server.close()


def test_a_call_within_its_deadline_returns_or_raises_as_usual():
    d = Deadlines(per_call_s=2, run_s=10)
    assert d.call("quick", lambda: 42) == 42
    with pytest.raises(KeyError):
        d.call("broken", lambda: {}["x"])


def test_a_hung_call_is_stopped_at_its_deadline():
    d = Deadlines(per_call_s=0.3, run_s=10)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="within 0s"):
        d.call("hung", lambda: time.sleep(5))
    assert time.monotonic() - started < 1.5


def test_the_run_budget_caps_every_later_call():
    now = [0.0]
    d = Deadlines(per_call_s=5, run_s=10, clock=lambda: now[0])
    assert d.call("first", lambda: 1) == 1
    now[0] = 10.5
    with pytest.raises(DeadlineExceeded, match="budget for external calls is spent"):
        d.call("late", lambda: 1)


def test_bad_deadline_settings_are_one_line():
    with pytest.raises(Exception, match="META_SUPERVISOR_CALL_DEADLINE_S: expected a positive number"):
        Deadlines.from_env({"META_SUPERVISOR_CALL_DEADLINE_S": "soon"})


def test_sendgrid_trickling_bytes_is_a_transient_failure_within_the_deadline(trickle):
    mailer = SendgridMailer(
        "SG.key",
        "ops@example.com",
        ["desk@example.com"],
        host=trickle.url,
        timeout_s=5,  # per read: never reached, a byte arrives every 0.3 s
        tries=2,
        backoff_s=0,
        sleep=lambda s: None,
        deadlines=Deadlines(per_call_s=1.0, run_s=30),
    )
    started = time.monotonic()
    with pytest.raises(MailDeliveryError, match="no complete answer within 1s") as info:
        mailer.send(msg())
    assert info.value.transient and trickle.requests == 2
    assert time.monotonic() - started < 4


def test_github_trickling_bytes_is_one_error_line_within_the_deadline(trickle):
    api = PullRequests(
        "ghp_secret_token",
        "acme/trading",
        trickle.url,
        timeout_s=5,
        retry_delays=(0.01,),
        sleep=lambda s: None,
        deadlines=Deadlines(per_call_s=1.0, run_s=30),
    )
    started = time.monotonic()
    with pytest.raises(PullsError, match="no complete answer within 1s") as info:
        api.open_auto_prs()
    assert "\n" not in str(info.value) and "ghp_secret_token" not in str(info.value)
    assert time.monotonic() - started < 4


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_credentials_in_sendgrid_api_host_never_reach_messages_or_files(tmp_path):
    env = {
        "SENDGRID_API_KEY": "SG.key",
        "META_EMAIL_TO": "desk@example.com",
        "META_EMAIL_FROM": "ops@example.com",
        "SENDGRID_API_HOST": f"http://mailuser:hunter2-pass@127.0.0.1:{_closed_port()}",
    }
    mailer = mailer_from_env(env, tries=1, sleep=lambda s: None)
    assert "hunter2" not in repr(mailer) and mailer.host.startswith("http://***@127.0.0.1:")
    logs: list[str] = []
    report = deliver(tmp_path, [msg()], mailer, log=logs.append)
    assert not report.ok and report.errors
    text = json.dumps([report.errors, logs])
    for path in tmp_path.rglob("*"):
        if path.is_file():
            text += path.read_text(errors="replace")
    assert "hunter2" not in text and "mailuser" not in text
    assert "***@127.0.0.1" in text


def test_credentials_in_github_api_url_never_reach_messages():
    api = PullRequests(
        "ghp_token",
        "acme/trading",
        f"http://ghuser:s3cret-pw@127.0.0.1:{_closed_port()}",
        retry_delays=(),
        sleep=lambda s: None,
        deadlines=Deadlines(per_call_s=5, run_s=30),
    )
    with pytest.raises(PullsError) as info:
        api.open_auto_prs()
    assert "s3cret" not in str(info.value) and "ghuser" not in str(info.value)
