"""The pending-mail queue: every alert mail is delivered exactly once, even across failed runs.

Files (relative to the root):
- `outbox/mail/<created_at compact>-<id>.eml`: each new message as a real RFC 5322 file
  (multipart/alternative text + html). Files directly in `outbox/mail/` are mail NOT (yet) delivered:
  dry-run output, or pending after a failure.
- `outbox/mail/sent/<same name>`: the record of a delivered message; moved (re-written from the
  queue if the outbox did not survive, e.g. on a fresh CI checkout) right after delivery.
- `state/mail_pending.json`: the queue, committed with the rest of `state/`, holding the whole
  message so a later run can send it without the outbox. Only used when a mailer is configured.

Order of effects (evaluate): queue the new message with the alert keys it notifies (atomic) ->
record the alerts as notified (state/divergence_alerts.json, atomic) -> send -> rewrite the queue
without it (atomic) -> move the .eml. A kill before the second step is repaired by the next run
(`unrecorded_keys`); only a kill between SendGrid's acceptance and the queue rewrite, or a reply
lost after acceptance, sends that one message twice; nothing is ever dropped.
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
    root: Path,
    new: list[MailMessage],
    mailer: SendgridMailer | None,
    log: Callable[[str], None] = print,
    queue: list[dict] | None = None,
    alert_keys: list[str] | tuple = (),
) -> DeliveryReport:
    """Queue `new` (`enqueue`), then send the whole queue (`send`). Evaluate calls the two steps
    itself, to record the alerts as notified in between (docs/reliability.md, "Mail")."""
    queue = load_queue(root) if queue is None else queue
    report = enqueue(root, queue, new, mailer, log, alert_keys)
    return send(root, queue, mailer, report, log)


def enqueue(
    root: Path,
    queue: list[dict],
    new: list[MailMessage],
    mailer: SendgridMailer | None,
    log: Callable[[str], None] = print,
    alert_keys: list[str] | tuple = (),
    now: str | None = None,
) -> DeliveryReport:
    """Write `new` to the outbox and, when a mailer exists, add them to `queue` (from `load_queue`)
    and save it: from then on they are sent by this run or a later one. Each entry records the
    alert keys it notifies and when it was queued, so a run killed before it recorded the alerts
    as notified is recognised by the next one (`unrecorded_keys`)."""
    root = Path(root)
    report = DeliveryReport()
    sender = getattr(mailer, "sender", None)
    recipients = getattr(mailer, "recipients", None)
    for msg in _unique(new):
        path = OUTBOX / eml_name(msg)
        write_atomic(root / path, to_eml(msg, sender, recipients))
        report.outbox_files.append(path.as_posix())
    if mailer is None:
        return report
    queued_ids = {e["message"]["id"] for e in queue}
    added = False
    for msg, rel in zip(_unique(new), report.outbox_files):
        if msg.id not in queued_ids:
            queue.append(
                {
                    "message": msg.to_dict(),
                    "eml": rel,
                    "alert_keys": sorted(alert_keys),
                    "queued_at": now or msg.created_at,
                    "attempts": 0,
                    "last_error": None,
                    "last_attempt_at": None,
                }
            )
            queued_ids.add(msg.id)
            added = True
    queue.sort(key=lambda e: e["message"]["created_at"])  # stable: ties keep queue order
    if added:
        _save_queue(root, queue)
    return report


def send(
    root: Path,
    queue: list[dict],
    mailer: SendgridMailer | None,
    report: DeliveryReport | None = None,
    log: Callable[[str], None] = print,
) -> DeliveryReport:
    """Send every queued message, oldest first; each delivered one leaves the queue at once
    (atomic rewrite), so a later run never sends it again. Without a mailer nothing is sent."""
    root = Path(root)
    report = report or DeliveryReport()
    sender = getattr(mailer, "sender", None)
    recipients = getattr(mailer, "recipients", None)
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
        # The at-least-once window: from SendGrid's acceptance to this rename (a kill in between,
        # or a reply lost after acceptance, sends the message again on the next run).
        queue.remove(entry)
        _save_queue(root, queue)
        _file_as_sent(root, msg, sender, recipients)
        report.sent.append(msg.id)
        log(f"mail: sent to {len(recipients or [])} recipient(s): {msg.subject[:80]}")

    report.pending = [e["message"]["id"] for e in queue]
    if queue:
        log(f"mail: {len(queue)} message(s) still pending in {QUEUE.as_posix()}; the next run retries them")
    return report


def unrecorded_keys(queue: list[dict], notified: dict[str, str | None]) -> dict[str, str]:
    """{alert key: queued_at} of queued mails whose alerts the alert document does not show as
    notified since they were queued (`notified`: key -> last_notified): a run was killed between
    queueing the mail and recording the alerts. Those alerts are already being mailed."""
    out: dict[str, str] = {}
    for entry in queue:
        at = entry.get("queued_at")
        for key in entry.get("alert_keys", []):
            last = notified.get(key)
            if at and (last is None or last < at):
                out[key] = max(at, out.get(key, at))
    return out


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


def load_queue(root: Path) -> list[dict]:
    """The queue, validated (one line naming the file on any problem): evaluate calls this before
    any side effect, so a corrupt queue stops the run before a PR is opened."""
    path = Path(root) / QUEUE
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    try:
        doc = json.loads(raw)
        entries = doc["messages"]
        if not isinstance(entries, list):
            raise TypeError("messages must be a list")
        for e in entries:
            MailMessage.from_dict(e["message"])
            e.setdefault("attempts", 0)
            e.setdefault("last_error", None)
            e.setdefault("last_attempt_at", None)
            keys, at = e.setdefault("alert_keys", []), e.setdefault("queued_at", None)
            if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
                raise TypeError("alert_keys must be a list of strings")
            if not (at is None or isinstance(at, str)) or not isinstance(e["attempts"], int):
                raise TypeError("queued_at must be a string and attempts a number")
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as err:
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
