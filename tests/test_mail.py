"""Alert mail: composition (pure), SendGrid delivery (real sendgrid client against a local fake),
and the pending queue that makes every mail arrive exactly once across runs."""

from __future__ import annotations

import ast
import email
import email.policy
import json
import logging
import re
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meta_supervisor.adapters.mail.mailbox import QUEUE, deliver
from meta_supervisor.adapters.mail.sendgrid_mailer import MailDeliveryError, SendgridMailer, mailer_from_env
from meta_supervisor.core.errors import UserError
from meta_supervisor.core.render import mail as alert_mail
from meta_supervisor.core.render.mail import MailMessage, compose_alert_mail
from tests.fakes.sendgrid_api import FakeSendGrid, error_body

KEY = "SG.zz-FAKE-KEY-must-never-leak.Qx7Wv9"
SENDER = "Meta Supervisor <alerts@example.com>"
TO = ["ops@example.com", "quant.lead@example.org", "risk@example.net"]
NOW = "2026-11-24T10:00:00Z"


def alert(agent="alpha-7", trigger="cusum_bias_down", status="new", **kw):
    a = {
        "key": f"agent:{agent}:{trigger}",
        "scope": "agent",
        "agent": agent,
        "strategy_class": "macro",
        "trigger": trigger,
        "severity": "high",
        "status": status,
        "first_seen": NOW,
        "last_seen": NOW,
        "change_ts": "2026-11-23T18:00:00Z",
        "shift": -1.2,
        "shift_unit": "sigma",
        "detail": "live PnL 1.2 sigma below model since the change",
        "action": "REDUCE_ALLOC_AND_BLOCK_PROMOTION",
    }
    a.update(kw)
    return a


@pytest.fixture
def fake():
    with FakeSendGrid(api_key=KEY) as sg:
        yield sg


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def make_mailer(fake, sleeps):
    def make(**kw):
        kw.setdefault("host", fake.url)
        kw.setdefault("timeout_s", 0.2)
        kw.setdefault("backoff_s", 0.01)
        kw.setdefault("sleep", sleeps.append)
        return SendgridMailer(kw.pop("api_key", KEY), SENDER, TO, **kw)

    return make


def msg(n=1, agent="alpha-7"):
    return compose_alert_mail(
        [alert(agent=agent, trigger=t) for t in ["cusum_bias_down", "mean_error", "cusum_variance"][:n]],
        NOW,
        "acme/fleet",
    )


# ---------------------------------------------------------------- the adapter


def test_one_request_reaches_all_recipients(fake, make_mailer):
    m = msg()
    make_mailer().send(m)
    assert fake.requests == 1 and len(fake.received) == 1
    body = fake.received[0]
    assert [t["email"] for p in body["personalizations"] for t in p["to"]] == TO
    assert body["from"] == {"email": "alerts@example.com", "name": "Meta Supervisor"}
    assert body["subject"] == m.subject
    assert body["content"] == [{"type": "text/plain", "value": m.text}, {"type": "text/html", "value": m.html}]
    assert fake.headers[0]["Authorization"] == f"Bearer {KEY}"


def test_5xx_is_retried_and_delivered_once(fake, make_mailer, sleeps):
    fake.script([503, 202])
    make_mailer().send(msg())
    assert fake.requests == 2 and len(fake.received) == 1
    assert len(sleeps) == 1


def test_5xx_gives_up_after_tries_with_backoff(fake, make_mailer, sleeps):
    fake.inject(503, times=5)
    with pytest.raises(MailDeliveryError, match=r"\(503\).*3 attempts") as info:
        make_mailer(backoff_s=1.0).send(msg())
    assert info.value.transient and info.value.status == 503
    assert fake.requests == 3 and sleeps == [1.0, 2.0]


def test_4xx_is_not_retried_and_names_sendgrids_reason(fake, make_mailer, sleeps):
    fake.inject(400, error_body("The from address does not match a verified Sender Identity", "from"))
    with pytest.raises(MailDeliveryError) as info:
        make_mailer().send(msg())
    assert fake.requests == 1 and sleeps == [] and fake.received == []
    text = str(info.value)
    assert text.startswith("SendGrid rejected the mail (400): The from address does not match")
    assert "\n" not in text and not info.value.transient


def test_wrong_key_is_401_without_the_key_in_the_error(fake, make_mailer):
    wrong = "SG.another-secret-key-zz9"
    with pytest.raises(MailDeliveryError, match=r"\(401\): The provided authorization grant") as info:
        make_mailer(api_key=wrong).send(msg())
    assert fake.requests == 1
    assert wrong not in str(info.value) and wrong not in repr(info.value)


def test_timeout_is_retried(fake, make_mailer, sleeps):
    fake.inject(504, delay_s=1.0)  # a gateway that hangs past the client's 0.2 s, then fails
    started = time.monotonic()
    make_mailer().send(msg())
    assert time.monotonic() - started < 0.9  # did not wait for the slow answer
    assert fake.requests == 2 and len(fake.received) == 1 and len(sleeps) == 1


def test_timeout_is_set_on_the_http_call(fake, make_mailer):
    fake.delay_s = 1.0
    started = time.monotonic()
    with pytest.raises(MailDeliveryError, match="timed out"):
        make_mailer(tries=1).send(msg())
    assert time.monotonic() - started < 0.9


def test_dropped_connection_is_retried(fake, make_mailer):
    fake.down("drop")
    with pytest.raises(MailDeliveryError, match="unreachable") as info:
        make_mailer().send(msg())
    assert info.value.transient and fake.requests == 3
    fake.up()
    make_mailer().send(msg())
    assert len(fake.received) == 1


def test_refused_connection_is_retried(fake, make_mailer, sleeps):
    mailer = make_mailer()
    fake.down()
    with pytest.raises(MailDeliveryError, match="unreachable.*3 attempts"):
        mailer.send(msg())
    assert len(sleeps) == 2


# ---------------------------------------------------------------- the queue


def test_outage_keeps_mail_pending_then_next_run_sends_it_once(tmp_path, fake, make_mailer):
    m = msg()
    mailer = make_mailer()
    fake.down()
    logs = []
    report = deliver(tmp_path, [m], mailer, log=logs.append)
    assert not report.ok and report.sent == [] and report.pending == [m.id]
    assert len(report.errors) == 1 and "unreachable" in report.errors[0]
    queue = json.loads((tmp_path / QUEUE).read_text())
    assert [e["message"]["id"] for e in queue["messages"]] == [m.id]
    assert queue["messages"][0]["attempts"] == 1 and "unreachable" in queue["messages"][0]["last_error"]
    eml = tmp_path / report.outbox_files[0]
    assert eml.parent == tmp_path / "outbox/mail" and eml.exists()
    assert any("pending" in line for line in logs)

    fake.up()
    report2 = deliver(tmp_path, [], mailer, log=logs.append)
    assert report2.ok and report2.sent == [m.id] and report2.pending == []
    assert len(fake.received) == 1 and fake.received[0]["subject"] == m.subject
    assert json.loads((tmp_path / QUEUE).read_text())["messages"] == []
    assert not eml.exists() and (tmp_path / "outbox/mail/sent" / eml.name).exists()

    report3 = deliver(tmp_path, [], mailer, log=logs.append)  # nothing new: nothing sent
    assert report3.ok and report3.sent == [] and len(fake.received) == 1 and fake.requests == 1


def test_same_message_twice_is_one_queue_entry_and_one_mail(tmp_path, fake, make_mailer):
    a, b = msg(1), msg(2)
    mailer = make_mailer()
    fake.down()
    deliver(tmp_path, [a, a], mailer, log=lambda s: None)
    later = MailMessage.from_dict({**a.to_dict(), "created_at": "2026-11-24T11:00:00Z"})  # recomposed
    deliver(tmp_path, [later, b], mailer, log=lambda s: None)
    queue = json.loads((tmp_path / QUEUE).read_text())["messages"]
    assert [e["message"]["id"] for e in queue] == [a.id, b.id]
    fake.up()
    report = deliver(tmp_path, [], mailer, log=lambda s: None)
    assert report.sent == [a.id, b.id] and len(fake.received) == 2
    assert list((tmp_path / "outbox/mail").glob("*.eml")) == []  # every unsent copy filed as sent


def test_a_rejected_mail_does_not_block_the_next_but_an_outage_does(tmp_path, fake, make_mailer):
    a, b, c = msg(1), msg(2), msg(3)
    mailer = make_mailer()
    fake.inject(400, error_body("Invalid content"))
    report = deliver(tmp_path, [a, b], mailer, log=lambda s: None)
    assert report.sent == [b.id] and report.pending == [a.id] and "(400)" in report.errors[0]
    fake.down()
    report = deliver(tmp_path, [c], mailer, log=lambda s: None)
    assert report.sent == [] and report.pending == [a.id, c.id] and len(report.errors) == 1  # stopped at a


def test_without_mailer_only_the_outbox(tmp_path):
    m = msg()
    logs = []
    report = deliver(tmp_path, [m], None, log=logs.append)
    assert report.ok and report.sent == [] and report.pending == []
    assert not (tmp_path / QUEUE).exists()
    assert report.outbox_files == [f"outbox/mail/20261124T100000Z-{m.id}.eml"]
    assert any("outbox/mail" in line for line in logs)
    raw = (tmp_path / report.outbox_files[0]).read_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed["Subject"] == m.subject and parsed["Message-ID"] and parsed["Date"]
    assert parsed.get_body(("plain",)).get_content() == m.text
    assert parsed.get_body(("html",)).get_content() == m.html
    assert deliver(tmp_path, [m], None, log=logs.append).outbox_files == report.outbox_files
    assert (tmp_path / report.outbox_files[0]).read_bytes() == raw  # rewriting is byte-identical


def test_eml_names_sender_and_recipients_when_known(tmp_path, fake, make_mailer):
    report = deliver(tmp_path, [msg()], make_mailer(), log=lambda s: None)
    sent = next((tmp_path / "outbox/mail/sent").glob("*.eml"))
    parsed = email.message_from_bytes(sent.read_bytes(), policy=email.policy.default)
    assert parsed["From"] == SENDER and [a.addr_spec for a in parsed["To"].addresses] == TO
    assert report.ok


def test_corrupt_queue_is_a_user_error_before_any_write(tmp_path, make_mailer):
    (tmp_path / "state").mkdir()
    (tmp_path / QUEUE).write_text("{not json")
    with pytest.raises(UserError, match="mail_pending.json"):
        deliver(tmp_path, [msg()], make_mailer(), log=lambda s: None)
    assert not (tmp_path / "outbox").exists()


def test_api_key_never_leaks(tmp_path, fake, make_mailer, capsys, caplog):
    caplog.set_level(logging.DEBUG)  # python_http_client logs request headers at DEBUG
    mailer = make_mailer()
    assert KEY not in repr(mailer)
    fake.inject(503, error_body(f"echoing {KEY} back"), times=3)  # even a server echoing it
    report = deliver(tmp_path, [msg()], mailer)
    fake.inject(400, error_body(f"bad {KEY}"))
    with pytest.raises(MailDeliveryError) as info:
        mailer.send(msg(2))
    fake.down()
    deliver(tmp_path, [], mailer)
    fake.up()
    deliver(tmp_path, [], mailer)
    out, err = capsys.readouterr()
    texts = [out, err, caplog.text, str(info.value), *report.errors]
    texts += [p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()]
    assert len(texts) > 6 and all(KEY not in t for t in texts)
    assert any("***" in t for t in texts)


def test_mailer_from_env():
    assert mailer_from_env({}) is None
    assert mailer_from_env({"SENDGRID_API_KEY": KEY}) is None
    assert mailer_from_env({"META_EMAIL_TO": "ops@example.com"}) is None
    assert mailer_from_env({"SENDGRID_API_KEY": "", "META_EMAIL_TO": "ops@example.com"}) is None
    m = mailer_from_env(
        {
            "SENDGRID_API_KEY": KEY,
            "META_EMAIL_TO": " ops@example.com, ,risk@example.net ",
            "META_EMAIL_FROM": SENDER,
            "SENDGRID_API_HOST": "http://127.0.0.1:9/",
        },
        tries=1,
    )
    assert m.recipients == ["ops@example.com", "risk@example.net"] and m.sender == SENDER
    assert m.host == "http://127.0.0.1:9" and m.tries == 1
    assert (
        mailer_from_env({"SENDGRID_API_KEY": KEY, "META_EMAIL_TO": "ops@example.com"}).host
        == "https://api.sendgrid.com"
    )
    with pytest.raises(UserError) as info:
        mailer_from_env({"SENDGRID_API_KEY": KEY, "META_EMAIL_TO": "ops@example.com,not an address"})
    assert str(info.value) == "META_EMAIL_TO: 'not an address' is not an e-mail address"
    with pytest.raises(UserError) as info:
        mailer_from_env({"SENDGRID_API_KEY": "SG.x\nInjected: 1", "META_EMAIL_TO": "ops@example.com"})
    assert "Injected" not in str(info.value)


# ---------------------------------------------------------------- composition (pure)


def test_compose_subject_tables_and_escaping():
    alerts = [
        alert(agent="<script>alert(1)</script>", status="escalated"),
        alert(agent="beta-2", trigger="mean_abs_error", severity="medium", shift=95.3, shift_unit="bps"),
        {"scope": "strategy", "agent": None, "strategy_class": "macro&co", "trigger": "mean_error", "status": "new"},
    ]
    m = compose_alert_mail(alerts, NOW, "acme/fleet")
    assert m.subject.startswith("DIVERGENCE ALERT: 2 new, 1 escalated — agents ")
    assert "<script>" not in m.html and "&lt;script&gt;alert(1)&lt;/script&gt;" in m.html
    assert "macro&amp;co" in m.html and "macro&co" not in m.html
    assert "Strategy-level alerts" in m.text and "REDUCE_ALLOC_AND_BLOCK_PROMOTION" in m.text
    assert "+95.3 bps" in m.text and "-1.20 sigma" in m.text and "2026-11-23T18:00:00Z" in m.text
    assert "mean_abs_error: rolling mean |realized - expected|" in m.text
    # aligned plain text: in each table the header and the rows start their columns at the same offsets
    lines = m.text.splitlines()
    i = lines.index("Agent beta-2 (strategy macro)")
    header, rule, row = lines[i + 1 : i + 4]
    assert [c.start() for c in re.finditer(r"(?<=  )\S", rule)] == [
        header.index(h) for h in ("Trigger", "Severity", "Status", "Shift", "Since", "Strategy", "Detail")
    ]
    assert row.index("medium") == header.index("Severity")


def test_compose_tolerates_missing_keys_and_injected_newlines():
    m = compose_alert_mail([{"agent": "x\nSubject: pwned", "detail": "a\r\nb"}, {}], NOW)
    assert "\n" not in m.subject and "\r" not in m.text
    assert m.subject.startswith("DIVERGENCE ALERT")
    with pytest.raises(ValueError):
        compose_alert_mail([], NOW)


def test_message_id_is_deterministic_and_round_trips():
    a = compose_alert_mail([alert()], NOW)
    b = compose_alert_mail([alert(last_seen="2026-11-25T00:00:00Z")], "2026-11-25T00:00:00Z")
    assert a.id == b.id and a.created_at != b.created_at
    assert compose_alert_mail([alert(status="escalated")], NOW).id != a.id
    assert MailMessage.from_dict(json.loads(json.dumps(a.to_dict()))) == a


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=30), st.text(max_size=60))
def test_compose_never_leaks_markup(agent, detail):
    m = compose_alert_mail([alert(agent=agent or "a", detail=detail)], NOW)
    body = m.html.split("<body", 1)[1]
    for raw in (agent, detail):
        if any(c in raw for c in "<>&"):
            assert f">{raw}<" not in body
    assert "\n" not in m.subject and m.subject.startswith("DIVERGENCE ALERT")


def test_alert_mail_is_pure():
    tree = ast.parse(Path(alert_mail.__file__).read_text())
    imported = {
        n.module if isinstance(n, ast.ImportFrom) else a.name
        for n in ast.walk(tree)
        if isinstance(n, (ast.Import, ast.ImportFrom))
        for a in n.names
    }
    allowed = {"__future__", "hashlib", "html", "dataclasses", "datetime"}
    # and the pure core (stdlib + numpy, enforced by tests/test_architecture.py): the detector
    # registry that owns the triggers' meanings, and the timestamp helpers
    core = {"meta_supervisor.core.detectors", "meta_supervisor.core.timeutil"}
    assert {i.split(".")[0] for i in imported if i not in core} <= allowed


def test_every_registered_trigger_has_its_meaning_in_the_mail():
    from meta_supervisor.core.detectors import TRIGGERS

    m = compose_alert_mail([alert(trigger=t) for t in TRIGGERS], NOW)
    for name, trigger in TRIGGERS.items():
        assert f"  {name}: {trigger.meaning}" in m.text
        assert alert_mail.TRIGGER_MEANINGS[name] == trigger.meaning
