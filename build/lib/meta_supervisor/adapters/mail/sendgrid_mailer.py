"""SendGrid delivery: the only module that imports sendgrid (docs/architecture.md, "Layers").

`SendgridMailer.send` makes one v3 `POST /v3/mail/send` per message, all recipients in one
personalization's `to`, content text/plain then text/html. SendGrid answers 202 (empty body) when
it accepts the mail.

Retry policy (the one choke point): 5xx, timeouts and connection errors are retried with exponential
backoff, `tries` attempts in all; any 4xx (400 bad mail, 401/403 key or sender identity, 413, 429)
is raised at once, with the status and SendGrid's own error message. A mail that still fails stays
in the caller's pending queue, so a 429 is simply retried by the next run.

Timeouts: `SendGridAPIClient` takes no timeout (sendgrid-python issues #757/#985) and its
python_http_client `Client` defaults to none, so a stalled connection would hang the job. The
`Client` keeps `timeout` as an attribute and copies it into every child client it builds for
`client.mail.send.post(...)`, which passes it to `urllib`'s `opener.open(request, timeout=...)`;
so we set `api.client.timeout` once after construction (checked by a test against a slow server).

The key: it lives only in the Authorization header. Errors are built from status, SendGrid's message
and the socket reason, then passed through `_redact`; python_http_client's DEBUG log line that
prints the request headers is scrubbed by a logging filter. A key with whitespace or control
characters is refused up front (http.client would otherwise quote the whole header in its error).

Environment (`mailer_from_env`): SENDGRID_API_KEY and META_EMAIL_TO (comma-separated addresses)
enable mail; either missing or blank means "not configured" (None). META_EMAIL_FROM is the sender,
plain `addr` or `Name <addr>`; it must be a SendGrid verified Sender Identity, and the default
`meta-supervisor@localhost` is not one: without META_EMAIL_FROM SendGrid answers 403 and the mail
stays pending with that message. SENDGRID_API_HOST defaults to https://api.sendgrid.com; credentials
in it (`https://user:secret@host`) are used, and shown as `https://***@host`.

Deadline: each send attempt runs under a wall-clock deadline and the run's budget
(adapters/deadline.py); past it the attempt is a transient failure like a timeout.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from email.utils import parseaddr
from typing import ClassVar

from python_http_client.exceptions import HTTPError as SendgridHTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Content, From, Mail, To

from meta_supervisor.adapters.deadline import Deadlines, shared
from meta_supervisor.adapters.redact import redact, safe_url
from meta_supervisor.core.errors import UserError
from meta_supervisor.core.render.mail import MailMessage

DEFAULT_HOST = "https://api.sendgrid.com"
DEFAULT_SENDER = "meta-supervisor@localhost"

_ADDRESS = re.compile(
    r"^[^@\s<>()\[\],;:\"\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$"
)
_MAX_REASON = 300


class MailDeliveryError(UserError):
    """A mail was not delivered. One line, never the key.

    `status` is the HTTP status (None for timeouts/connection errors); `transient` says whether the
    failure is about the service (outage, 5xx, timeout) rather than this particular mail.
    """

    def __init__(self, message: str, status: int | None = None, transient: bool = False):
        super().__init__(message)
        self.status = status
        self.transient = transient


class _RedactKeys(logging.Filter):
    """Scrubs registered API keys from python_http_client's log records (it logs request headers)."""

    keys: ClassVar[set[str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.keys:
            message = record.getMessage()
            if any(k in message for k in self.keys):
                record.msg, record.args = _redact(message, self.keys), None
        return True


_LOG_FILTER = _RedactKeys()
logging.getLogger("python_http_client.client").addFilter(_LOG_FILTER)


def _redact(text: str, keys) -> str:
    return redact(text, keys)


def _one_line(text: str, limit: int = _MAX_REASON) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_address(value: str) -> bool:
    """A plain `local@domain` address (no display name).

    >>> is_address("ops@example.com"), is_address("ops@example"), is_address("ops example.com")
    (True, True, False)
    """
    return bool(_ADDRESS.match(value)) and len(value) <= 254


class SendgridMailer:
    def __init__(
        self,
        api_key: str,
        sender: str,
        recipients: list[str],
        host: str = DEFAULT_HOST,
        timeout_s: float = 10.0,
        tries: int = 3,
        backoff_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        deadlines: Deadlines | None = None,
    ):
        if not api_key or any(c.isspace() or not c.isprintable() for c in api_key):
            raise UserError("SENDGRID_API_KEY is empty or contains whitespace/control characters")
        name, address = parseaddr(sender)
        if not is_address(address):
            raise UserError(f"META_EMAIL_FROM: {sender!r} is not an e-mail address")
        unique: dict[str, str] = {}
        for r in recipients:  # SendGrid rejects a personalization naming an address twice
            if not is_address(r):
                raise UserError(f"META_EMAIL_TO: {r!r} is not an e-mail address")
            unique.setdefault(r.lower(), r)
        if not unique:
            raise UserError("META_EMAIL_TO names no recipient")
        if tries < 1 or timeout_s <= 0 or backoff_s < 0:
            raise ValueError("need tries >= 1, timeout_s > 0, backoff_s >= 0")
        self.sender = sender
        self.recipients = list(unique.values())
        url = safe_url(host.rstrip("/"))
        self.host = url.display  # what messages show: credentials in the URL never do
        self._secrets = (api_key, *url.secrets)
        self.timeout_s = timeout_s
        self.tries = tries
        self.backoff_s = backoff_s
        self._sender = (address, name or None)
        self._sleep = sleep
        self._key = api_key
        self._deadlines = deadlines or shared()
        _RedactKeys.keys.update(self._secrets)
        self._api = SendGridAPIClient(api_key=api_key, host=url.url)
        self._api.client.timeout = timeout_s  # see module docstring: the only timeout hook in 6.x

    def __repr__(self) -> str:
        return f"SendgridMailer(host={self.host!r}, sender={self.sender!r}, recipients={self.recipients!r})"

    def build_request(self, msg: MailMessage) -> dict:
        """The v3 mail/send JSON body (what goes on the wire, minus the Authorization header)."""
        mail = Mail(from_email=From(*self._sender), to_emails=[To(r) for r in self.recipients], subject=msg.subject)
        mail.add_content(Content("text/plain", msg.text))
        mail.add_content(Content("text/html", msg.html))
        return mail.get()

    def send(self, msg: MailMessage) -> None:
        """Deliver `msg` to every recipient in one request; raise MailDeliveryError if not accepted."""
        body = self.build_request(msg)
        for attempt in range(1, self.tries + 1):
            try:
                # Under a wall-clock deadline: urllib's timeout is per read (adapters/deadline.py).
                response = self._deadlines.call("SendGrid mail/send", lambda: self._api.send(body))
            except SendgridHTTPError as err:
                failure = self._http_failure(err)
            except (OSError, http.client.HTTPException) as err:
                # URLError (refused, DNS, connect timeout), TimeoutError (read timeout),
                # RemoteDisconnected / ConnectionResetError (dropped mid-request).
                reason = getattr(err, "reason", None) or err
                failure = MailDeliveryError(
                    _redact(
                        _one_line(f"SendGrid unreachable at {self.host}: {reason or type(err).__name__}"), self._secrets
                    ),
                    transient=True,
                )
            else:
                if 200 <= response.status_code < 300:
                    return
                failure = MailDeliveryError(
                    f"SendGrid answered {response.status_code}, expected 202", status=response.status_code
                )
            if not failure.transient or attempt == self.tries:
                if failure.transient and self.tries > 1:
                    raise MailDeliveryError(
                        f"{failure} (gave up after {self.tries} attempts)", failure.status, True
                    ) from None
                raise failure from None
            self._sleep(self.backoff_s * 2 ** (attempt - 1))

    def _http_failure(self, err: SendgridHTTPError) -> MailDeliveryError:
        status = int(getattr(err, "status_code", 0) or 0)
        detail = _error_message(getattr(err, "body", b""), getattr(err, "reason", ""))
        if 500 <= status < 600:
            text = f"SendGrid failed ({status}): {detail}"
        else:
            text = f"SendGrid rejected the mail ({status}): {detail}"
        return MailDeliveryError(_redact(_one_line(text), self._secrets), status=status, transient=500 <= status < 600)


def _error_message(body, reason) -> str:
    """SendGrid's `{"errors": [{"message", "field", "help"}]}` as one line; else the raw body/reason."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        errors = json.loads(body).get("errors") or []
        parts = []
        for e in errors:
            message = str(e.get("message") or "").strip()
            field = e.get("field")
            parts.append(f"{message} (field {field})" if field and str(field) not in message else message)
        if any(parts):
            return "; ".join(p for p in parts if p)
    except (ValueError, AttributeError, TypeError):
        pass
    return _one_line(body or reason or "no error message", 200)


def mailer_from_env(env: Mapping[str, str], **kw) -> SendgridMailer | None:
    """A mailer when SENDGRID_API_KEY and META_EMAIL_TO are both set (non-blank), else None.

    `kw` goes to SendgridMailer (timeout_s, tries, ...); `host` defaults to SENDGRID_API_HOST.
    A malformed address is a one-line UserError naming it.

    >>> mailer_from_env({}) is None
    True
    >>> mailer_from_env({"SENDGRID_API_KEY": "k", "META_EMAIL_TO": "ops@example.com, bad"})
    Traceback (most recent call last):
    ...
    meta_supervisor.core.errors.UserError: META_EMAIL_TO: 'bad' is not an e-mail address
    """
    key = (env.get("SENDGRID_API_KEY") or "").strip()
    to = (env.get("META_EMAIL_TO") or "").strip()
    if not key or not to:
        return None
    recipients = [part.strip() for part in to.split(",") if part.strip()]
    for r in recipients:
        if not is_address(r):
            raise UserError(f"META_EMAIL_TO: {_one_line(r, 80)!r} is not an e-mail address")
    sender = (env.get("META_EMAIL_FROM") or "").strip() or DEFAULT_SENDER
    kw.setdefault("host", (env.get("SENDGRID_API_HOST") or "").strip() or DEFAULT_HOST)
    return SendgridMailer(key, sender, recipients, **kw)
