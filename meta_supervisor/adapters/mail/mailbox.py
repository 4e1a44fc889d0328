"""The pending-mail queue: every alert mail is delivered exactly once, even across failed runs.

Files (relative to the root):
- `outbox/mail/<created_at compact>-<id>.eml`: each new message as a real RFC 5322 file
  (multipart/alternative text + html). Files directly in `outbox/mail/` are mail NOT (yet) delivered:
  dry-run output, or pending after a failure.
- `outbox/mail/sent/<same name>`: the record of a delivered message; moved (re-written from the
  queue if the outbox did not survive, e.g. on a fresh CI checkout) right after delivery.
- `state/mail_pending.json`: the queue, committed with the rest of `state/`, holding the whole
  message so a later run can send it without the outbox. Only used when a mailer is configured.

Order of effects per message: send -> rewrite the queue without it (atomic) -> move the .eml.
A crash between the first two re-sends at most that one in-flight mail; nothing is ever dropped.
A failure keeps the entry (attempt count, last error); an outage (timeout, refused, 5xx) or an auth
failure (401/403) stops the loop, since the rest would fail the same way; a mail-specific 4xx does
not block the mails behind it.
"""

from __future__ import annotations

import email.policy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import TYPE_CHECKING

from meta_supervisor.core.errors import UserError
from meta_supervisor.core.render.mail import MailMessage
from meta_supervisor.core.timeutil import now_ts, to_datetime
from meta_supervisor.files.jsonio import dumps, write_atomic  # temp file + fsync + os.replace

if TYPE_CHECKING:  # the adapter (and sendgrid) is only needed by whoever builds the mailer
    from meta_supervisor.adapters.mail.sendgrid_mailer import SendgridMailer

OUTBOX = Path("outbox/mail")
SENT = OUTBOX / "sent"
QUEUE = Path("state/mail_pending.json")
QUEUE_VERSION = 1


@dataclass
class DeliveryReport:
    sent: list[str] = field(default_factory=list)  # ids delivered by this run
    pending: list[str] = field(default_factory=list)  # ids still queued after this run
    outbox_files: list[str] = field(default_factory=list)  # .eml files written for new messages
    errors: list[str] = field(default_factory=list)  # one line per failure

    @property
    def ok(self) -> bool:
        return not self.errors


def deliver(
    root: Path, new: list[MailMessage], mailer: SendgridMailer | None, log: Callable[[str], None] = print
) -> DeliveryReport:
    """Write `new` to the outbox, queue them when a mailer exists, then send the whole queue."""
    root = Path(root)
    queue = _load_queue(root)  # validate before any side effect
    report = DeliveryReport()
    sender = getattr(mailer, "sender", None)
    recipients = getattr(mailer, "recipients", None)

    for msg in _unique(new):
        path = OUTBOX / eml_name(msg)
        write_atomic(root / path, to_eml(msg, sender, recipients))
        report.outbox_files.append(path.as_posix())

    if mailer is None:
        if report.outbox_files:
            log(
                f"mail: SendGrid not configured or dry run: {len(report.outbox_files)} message(s) "
                f"written to {OUTBOX.as_posix()}/"
            )
        report.pending = [e["message"]["id"] for e in queue]
        if queue:
            log(
                f"mail: {len(queue)} message(s) from earlier runs wait in {QUEUE.as_posix()}; "
                "the next run with SendGrid configured sends them"
            )
        return report

    queued_ids = {e["message"]["id"] for e in queue}
    for msg, rel in zip(_unique(new), report.outbox_files):
        if msg.id not in queued_ids:
            queue.append(
                {"message": msg.to_dict(), "eml": rel, "attempts": 0, "last_error": None, "last_attempt_at": None}
            )
            queued_ids.add(msg.id)
    queue.sort(key=lambda e: e["message"]["created_at"])  # stable: ties keep queue order
    if new:
        _save_queue(root, queue)

    for entry in list(queue):
        msg = MailMessage.from_dict(entry["message"])
        try:
            mailer.send(msg)
        except UserError as err:  # MailDeliveryError (kept generic so a fake mailer can raise UserError)
            entry["attempts"] += 1
            entry["last_error"] = str(err)
            entry["last_attempt_at"] = now_ts()
            _save_queue(root, queue)
            report.errors.append(f"mail {msg.id} ({msg.subject[:80]}): {err}")
            log(f"mail: NOT delivered, kept pending (attempt {entry['attempts']}): {msg.subject[:80]}: {err}")
            if getattr(err, "transient", False) or getattr(err, "status", None) in (401, 403):
                break
            continue
        queue.remove(entry)
        _save_queue(root, queue)
        _file_as_sent(root, msg, sender, recipients)
        report.sent.append(msg.id)
        log(f"mail: sent to {len(recipients or [])} recipient(s): {msg.subject[:80]}")

    report.pending = [e["message"]["id"] for e in queue]
    if queue:
        log(f"mail: {len(queue)} message(s) still pending in {QUEUE.as_posix()}; the next run retries them")
    return report


# ---------------------------------------------------------------- .eml files


def eml_name(msg: MailMessage) -> str:
    """`20261124T100000Z-<id>.eml` (sorts by creation time)."""
    compact = msg.created_at.replace("-", "").replace(":", "")
    return f"{compact}-{msg.id}.eml"


def to_eml(msg: MailMessage, sender: str | None = None, recipients: list[str] | None = None) -> bytes:
    """RFC 5322 bytes: multipart/alternative (text/plain, text/html); From/To only when known."""
    em = EmailMessage(policy=email.policy.default)
    em["Subject"] = msg.subject
    em["Date"] = format_datetime(to_datetime(msg.created_at))
    em["Message-ID"] = f"<{msg.id}.{msg.created_at.replace('-', '').replace(':', '')}@meta-supervisor>"
    if sender:
        em["From"] = sender
    if recipients:
        em["To"] = ", ".join(recipients)
    em["X-Meta-Supervisor-Id"] = msg.id
    em.set_content(msg.text)
    em.add_alternative(msg.html, subtype="html")
    boundary = f"=_meta-supervisor_{msg.id}"  # deterministic: the same message gives the same bytes
    if boundary not in msg.text and boundary not in msg.html:
        em.set_boundary(boundary)
    return em.as_bytes()


def _file_as_sent(root: Path, msg: MailMessage, sender, recipients) -> None:
    write_atomic(root / SENT / eml_name(msg), to_eml(msg, sender, recipients))
    # Every unsent copy: the queued one and any written again by a later run for the same id.
    for unsent in (root / OUTBOX).glob(f"*-{msg.id}.eml"):
        unsent.unlink(missing_ok=True)


# ---------------------------------------------------------------- queue


def _load_queue(root: Path) -> list[dict]:
    path = root / QUEUE
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    try:
        doc = json.loads(raw)
        entries = doc["messages"]
        for e in entries:
            MailMessage.from_dict(e["message"])
            e.setdefault("attempts", 0)
            e.setdefault("last_error", None)
            e.setdefault("last_attempt_at", None)
    except (ValueError, KeyError, TypeError) as err:
        raise UserError(
            f"{QUEUE.as_posix()} is not a valid mail queue ({_first_line(err)}); "
            "fix it or move it aside (its mails are also in outbox/mail/)"
        ) from None
    return entries


def _save_queue(root: Path, queue: list[dict]) -> None:
    write_atomic(root / QUEUE, dumps({"version": QUEUE_VERSION, "messages": queue}))


def _unique(messages: list[MailMessage]) -> list[MailMessage]:
    seen, out = set(), []
    for m in messages:
        if m.id not in seen:
            seen.add(m.id)
            out.append(m)
    return out


def _first_line(err: Exception) -> str:
    return (str(err).splitlines() or [type(err).__name__])[0][:200]
