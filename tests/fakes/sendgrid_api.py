"""A stateful fake of SendGrid's `POST /v3/mail/send` on 127.0.0.1, for the real sendgrid client.

    with FakeSendGrid(api_key="SG.fake") as sg:
        mailer = SendgridMailer("SG.fake", "a@example.com", ["b@example.com"], host=sg.url)
        sg.script([503, 202])          # next responses, in order; then normal behaviour
        sg.inject(504, delay_s=1.0)    # one slow gateway failure (provokes a client timeout)
        sg.down(); sg.up()             # outage: connections refused ("refuse") or dropped ("drop")

Behaviour mirrors the real API where the client can see it: `Authorization: Bearer <key>` or 401,
body validated (personalizations[].to[].email, from.email, subject, content[] with type/value,
text/plain before text/html) or 400, both with SendGrid's `{"errors": [{"message", "field",
"help"}]}` shape; an accepted mail is stored and answered 202 with an empty body and an
`X-Message-Id` header. Only accepted (2xx) mails land in `.received`; `.requests` counts every POST.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_DEFAULT_MESSAGES = {
    400: "Bad Request",
    401: "The provided authorization grant is invalid, expired, or revoked",
    403: "The from address does not match a verified Sender Identity. Mail cannot be sent until this "
    "error is resolved.",
    413: "Payload too large",
    429: "too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}


def error_body(message: str, field: str | None = None) -> dict:
    return {"errors": [{"message": message, "field": field, "help": None}]}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # a client that timed out and left: the late reply hits a closed socket, as in real life


@dataclass
class _Scripted:
    status: int
    body: dict | str | None
    delay_s: float


class FakeSendGrid:
    def __init__(self, api_key: str = "SG.fake-key"):
        self.api_key = api_key
        self.received: list[dict] = []  # accepted request bodies
        self.headers: list[dict] = []  # headers of every POST (for inspection)
        self.requests = 0  # every POST to /v3/mail/send
        self.delay_s = 0.0  # applied to every request
        self.on_accept = None  # called after a mail is accepted, before the reply (crash tests)
        self._script: deque[_Scripted] = deque()
        self._lock = threading.Lock()
        self._mode = "up"  # up | drop
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ---------------------------------------------------------------- lifecycle
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeSendGrid:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = _Server(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> FakeSendGrid:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def down(self, mode: str = "refuse") -> None:
        """Outage. "refuse": stop listening (connection refused); "drop": accept, then close the
        connection without answering (the client sees RemoteDisconnected)."""
        if mode == "refuse":
            self.stop()
        elif mode == "drop":
            self._mode = "drop"
        else:
            raise ValueError(mode)

    def up(self) -> None:
        self._mode = "up"
        if self._server is None:
            self.start()  # same port (HTTPServer sets SO_REUSEADDR)

    # ---------------------------------------------------------------- scripting
    def script(self, statuses: list) -> None:
        """Queue responses: ints, or (status, body) pairs. 2xx entries accept (and store) the mail."""
        for item in statuses:
            status, body = item if isinstance(item, tuple) else (item, None)
            self.inject(status, body)

    def inject(self, status: int, body: dict | str | None = None, times: int = 1, delay_s: float = 0.0) -> None:
        with self._lock:
            for _ in range(times):
                self._script.append(_Scripted(status, body, delay_s))

    def _next_scripted(self) -> _Scripted | None:
        with self._lock:
            return self._script.popleft() if self._script else None


class _Handler(BaseHTTPRequestHandler):
    owner: FakeSendGrid
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:
        fake = self.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.rstrip("/") != "/v3/mail/send":
            return self._reply(404, error_body("not found"))
        with fake._lock:
            fake.requests += 1
            fake.headers.append(dict(self.headers))
        if fake._mode == "drop":
            self.close_connection = True
            self.connection.close()
            return
        scripted = fake._next_scripted()
        delay = fake.delay_s + (scripted.delay_s if scripted else 0.0)
        if delay:
            time.sleep(delay)

        if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
            return self._reply(401, error_body(_DEFAULT_MESSAGES[401]))
        try:
            body = json.loads(raw.decode("utf-8"))
        except ValueError:
            return self._reply(400, error_body("Invalid JSON"))
        problem = validate_mail(body)
        if problem:
            return self._reply(400, error_body(*problem))
        if scripted and not 200 <= scripted.status < 300:
            payload = (
                scripted.body
                if scripted.body is not None
                else error_body(_DEFAULT_MESSAGES.get(scripted.status, "error"))
            )
            return self._reply(scripted.status, payload)
        with fake._lock:
            fake.received.append(body)
        if fake.on_accept is not None:
            fake.on_accept(body)
        self._reply(scripted.status if scripted else 202, None, {"X-Message-Id": secrets.token_urlsafe(16)})

    def do_GET(self) -> None:
        self._reply(405, error_body("method not allowed"))

    def _reply(self, status: int, body, headers: dict | None = None) -> None:
        data = b"" if body is None else (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)


def validate_mail(body) -> tuple[str, str] | None:
    """(message, field) of the first problem in a v3 mail/send body, or None."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object", None
    pers = body.get("personalizations")
    if not isinstance(pers, list) or not pers:
        return "The personalizations field is required and must have at least one personalization.", "personalizations"
    seen = set()
    for i, p in enumerate(pers):
        to = p.get("to") if isinstance(p, dict) else None
        if not isinstance(to, list) or not to:
            return (
                "The to array is required for all personalization objects, and must have at least "
                "one email object with a valid email address.",
                f"personalizations.{i}.to",
            )
        for j, addr in enumerate(to):
            email = addr.get("email") if isinstance(addr, dict) else None
            if not isinstance(email, str) or "@" not in email:
                return "Does not contain a valid address.", f"personalizations.{i}.to.{j}.email"
            if email.lower() in seen:
                return "Each email address in the personalization block should be unique", f"personalizations.{i}"
            seen.add(email.lower())
    sender = body.get("from")
    if not isinstance(sender, dict) or not isinstance(sender.get("email"), str) or "@" not in sender["email"]:
        return "The from object must be provided for every email send.", "from"
    if not isinstance(body.get("subject"), str) or not body["subject"]:
        if not all(isinstance(p.get("subject"), str) and p["subject"] for p in pers):
            return "The subject is required.", "subject"
    content = body.get("content")
    if not isinstance(content, list) or not content:
        return "Unless a valid template_id is provided, the content parameter is required.", "content"
    types = []
    for k, c in enumerate(content):
        if not isinstance(c, dict) or not isinstance(c.get("type"), str) or not c.get("type"):
            return "The content type must be provided.", f"content.{k}.type"
        if not isinstance(c.get("value"), str) or not c["value"]:
            return "The content value must be a string at least one character in length.", f"content.{k}.value"
        types.append(c["type"])
    if "text/plain" in types and types.index("text/plain") != 0:
        return "If present, text/plain content must be first, followed by any other content.", "content"
    return None
