"""Reconcile: new signals + recent prices -> matured rows appended to state/reconciled/.

load state (recover a crashed run) -> read new events and the prices they need -> join ->
append rows -> commit state (the commit point) -> report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from meta_supervisor.adapters.actions import Actions
from meta_supervisor.adapters.object_history import open_history
from meta_supervisor.core import reconcile as core
from meta_supervisor.core import sim_model
from meta_supervisor.core.records import Event
from meta_supervisor.core.timeutil import HOUR, format_ts, now_ts, parse_ts
from meta_supervisor.files import reconcile_state
from meta_supervisor.files.history import RECONCILED_DIR, retire, rows_by_partition
from meta_supervisor.files.inputs import Batch, Rejection, read_events, read_prices
from meta_supervisor.files.jsonio import write_json
from meta_supervisor.files.workspace import Workspace
from meta_supervisor.jobs.failpoint import failpoint

REPORT = "state/reconcile_report.json"
MAX_REPORTED = 1000


@dataclass
class ReconcileResult:
    rows_written: int
    pending: int
    rejected: list
    dropped: int
    report: dict


def _predictor(models: dict):
    """Expected PnL from the card's weights; expected sigma from its scale model for the event's
    (symbol, regime), or the card's rmse_bps for a card written before scale models existed."""
    scales = {h: sim_model.scale_of(card) for h, card in models.items()}

    def predict(event: Event, h: int) -> core.Prediction:
        card = models.get(h)
        if card is None:
            return core.FALLBACK
        x = [
            event.score_final if f == "score_final" else event.confidence if f == "confidence" else None
            for f in card["features"]
        ]
        if None in x:  # a feature the event does not carry: no honest prediction
            return core.FALLBACK
        w = card["weights"]
        expected = sum(xi * wi for xi, wi in zip(x, w)) + w[-1]
        scale = scales[h]
        sigma = float(card["rmse_bps"]) if scale is None else scale.sigma(event.symbol, event.regime)
        return core.Prediction(expected, sigma, sim_model.sim_version(card))

    return predict


def run(root, actions: Actions | None = None, now: str | None = None) -> ReconcileResult:
    actions = actions or Actions()
    now = now or now_ts()
    ws = Workspace.open(root)
    cfg = ws.settings
    agents = ws.agents()
    models = ws.models(warn=lambda msg: actions.annotate("warning", msg))

    with actions.group("load"):
        state = reconcile_state.load(ws.root)
        parts = open_history(ws.root, cfg.history, state.commit)
        if parts.layout_note:
            actions.annotate("warning", parts.layout_note, title="history layout")
        for name in parts.recover():
            actions.annotate("warning", f"{name}: dropped what a run that did not finish had written")
        pending = state.pending
        events, cursor = read_events(ws.root, cfg.inputs.alpha_events, state.events_cursor)
        rejected: list[Rejection] = list(events.rejected)
        latest = parse_ts(now) + round(cfg.inputs.max_clock_skew_hours * HOUR)
        accepted = _not_ahead(events.records, latest, now, cfg.inputs.max_clock_skew_hours, rejected)
        done = parts.reconciled_ids([event for _, event in accepted])
        seen = {p.event.event_id: None for p in pending}
        for line, event in accepted:
            if event.event_id in seen:
                rejected.append(Rejection(line.file, line.number, f"duplicate event_id {event.event_id!r}"))
                continue
            partition = done.get(event.event_id)
            if partition is not None:
                rejected.append(
                    Rejection(
                        line.file,
                        line.number,
                        f"duplicate event_id {event.event_id!r}: already reconciled ({partition})",
                    )
                )
                continue
            seen[event.event_id] = None
            pending.append(core.Pending(event, agents.get(event.agent, "unknown"), list(cfg.horizons)))
        prices = None
        if pending:
            prices = _read_prices(ws.root, cfg.inputs, pending)
            prices.records = _not_ahead(prices.records, latest, now, cfg.inputs.max_clock_skew_hours, rejected)
            rejected.extend(prices.rejected)
        print(
            f"reconcile: {len(events.records)} new events from {len(events.files_read)} file(s), "
            f"{len(pending)} pending, prices from {len(prices.files_read) if prices else 0} file(s)",
            file=actions.out,
        )

    with actions.group("join"):
        book = core.PriceBook.from_ticks((t.symbol, t.ts, t.price) for _, t in (prices.records if prices else []))
        rows, still, dropped = core.reconcile(
            pending, book, _predictor(models), now, stale_after_s=cfg.inputs.stale_after_hours * HOUR
        )

    with actions.group("write"):
        if not reconcile_state.exists(ws.root):
            # First run: record "nothing committed yet" before the first byte is appended, so a
            # crash during the append is recognised (and undone) by the next run.
            reconcile_state.save(ws.root, parts.commit(), {}, [])
        commit = parts.append(rows)
        failpoint("after_append")
        retired: list[str] = []
        if cfg.history.retain_days is not None:  # the git store only (settings refuse it with s3)
            commit, retired = retire(commit, cfg.history.retain_days, [p.event.ts for p in still])
        newest = dict(state.newest_input_ts)
        for name, records in (("alpha_events", accepted), ("prices", prices.records if prices else [])):
            if records:
                newest[name] = max(newest.get(name, 0), max(r.ts for _, r in records))
        cap = round(cfg.history.max_file_mb * 1024 * 1024)  # the pending files' cap too
        reconcile_state.save(ws.root, commit, cursor, still, newest, cap)  # the commit point
        for name in retired:  # after the commit: a crash before this leaves files recover() deletes
            (ws.root / RECONCILED_DIR / name).unlink()
        if retired:
            print(
                f"reconcile: deleted {len(retired)} partition file(s) older than history.retain_days "
                f"({cfg.history.retain_days}): {retired[0]} .. {retired[-1]} (git's history keeps them)",
                file=actions.out,
            )
        report = {
            "generated_at": now,
            "events_read": len(events.records),
            "files_read": events.files_read,
            "price_files_read": prices.files_read if prices else [],
            "rows_written": len(rows),
            "rows_by_partition": rows_by_partition(rows, parts.layout),
            "pending_events": len(still),
            "models": {str(h): sim_model.sim_version(c) for h, c in sorted(models.items())},
            "rejected_count": len(rejected),
            "rejected_by_file": _count_by_file(rejected),
            "rejected": [r.to_dict() for r in rejected[:MAX_REPORTED]],
            "dropped": [
                {
                    "event_id": p.event.event_id,
                    "symbol": p.event.symbol,
                    "ts": format_ts(p.event.ts),
                    "horizons": p.horizons_left,
                    "reason": why,
                }
                for p, why in dropped[:MAX_REPORTED]
            ],
        }
        write_json(ws.path(REPORT), report)

    _report(actions, report, rejected)
    return ReconcileResult(len(rows), len(still), rejected, len(dropped), report)


def _read_prices(root, inputs, pending: list) -> Batch:
    """The ticks the pending events need, in two steps: the daily files from the oldest pending
    signal's day on (its exits, and nearly every entry), then, only for events that found no tick
    of their symbol at or before their signal there, the `entry_lookback_hours` of files before
    that (a Monday signal's entry is Friday's close). The second step was every run's: at fleet
    scale it tripled the ticks re-read each hour (3 of 6 daily files), for a handful of entries."""
    oldest = min(p.event.ts for p in pending)
    prices = read_prices(root, inputs.prices, oldest)
    if inputs.entry_lookback_hours <= 0:
        return prices
    first_tick: dict[str, int] = {}
    for _, tick in prices.records:
        if tick.ts < first_tick.get(tick.symbol, tick.ts + 1):
            first_tick[tick.symbol] = tick.ts
    lacking = [
        p.event.ts for p in pending if p.event.price is None and first_tick.get(p.event.symbol, math.inf) > p.event.ts
    ]
    if lacking:
        earlier = read_prices(root, inputs.prices, min(lacking) - inputs.entry_lookback_hours * HOUR, before_ts=oldest)
        prices.records = earlier.records + prices.records
        prices.rejected = earlier.rejected + prices.rejected
        prices.files_read = earlier.files_read + prices.files_read
    return prices


def _not_ahead(records: list, latest: int, now: str, skew_hours: float, rejected: list[Rejection]) -> list:
    """The (line, record) pairs stamped at most `max_clock_skew_hours` after the run's time; the
    others go to `rejected`: a far-future signal would wait for ever, a far-future tick would
    mature pairs early on a price that has not happened."""
    kept = []
    for line, record in records:
        if record.ts > latest:
            rejected.append(
                Rejection(
                    line.file,
                    line.number,
                    f"field 'ts' {format_ts(record.ts)} is more than max_clock_skew_hours ({skew_hours:g}) "
                    f"after this run's time {now}",
                )
            )
        else:
            kept.append((line, record))
    return kept


def _count_by_file(rejected) -> dict:
    out: dict[str, int] = {}
    for r in rejected:
        out[r.file] = out.get(r.file, 0) + 1
    return out


def _report(actions: Actions, report: dict, rejected: list[Rejection]) -> None:
    print(
        f"reconcile: wrote {report['rows_written']} rows, {report['pending_events']} events pending, "
        f"{report['rejected_count']} lines rejected, {len(report['dropped'])} dropped",
        file=actions.out,
    )
    for r in rejected[:50]:
        actions.annotate("warning", f"rejected: {r.reason}", file=r.file, line=r.line)
    if len(rejected) > 50:
        print(f"... and {len(rejected) - 50} more rejected lines (see {REPORT})", file=actions.out)
    lines = [
        "## Reconcile",
        "",
        f"- rows written: **{report['rows_written']}**, events read: {report['events_read']}, "
        f"pending: {report['pending_events']}",
        f"- rejected input lines: **{report['rejected_count']}**",
    ]
    for file, count in sorted(report["rejected_by_file"].items()):
        lines.append(f"  - `{file}`: {count}")
    if report["dropped"]:
        lines.append(f"- dropped (never reconcilable): {len(report['dropped'])}")
    actions.summary("\n".join(lines))
    actions.output("rows_written", report["rows_written"])
    actions.output("rejected", report["rejected_count"])
