"""A synthetic trading world for the demo and the benchmarks (numpy only, seeded).

Prices are geometric random walks with ticks every `tick_minutes`. A global regime alternates
TREND/RANGE. Agents see the next day's return through noise: the side follows the sign of
(r24 + noise) and `score_final` its strength, so realized PnL rises with the score, as a
real signal's would. Faults are planted on purpose:
- `macro` takes the wrong side of big moves in TREND (a tail breach in the current regime),
- `arb` does the same in RANGE only (a breach outside the current regime),
- agent `mom-3` breaks after `diverge_from` (its sides turn to noise): a divergence alert.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from meta_supervisor.core.timeutil import HOUR, format_ts

STRATEGIES = {
    "macro": ["macro-1", "macro-2", "macro-3"],
    "arb": ["arb-1", "arb-2", "arb-3"],
    "momentum": ["mom-1", "mom-2", "mom-3"],
}
SYMBOLS = ["BTC", "ETH", "SOL", "EURUSD", "SPX", "GOLD"]


@dataclass
class World:
    prices: list[dict]
    events: list[dict]
    regimes: list[tuple[int, str]]  # (start ts, regime)


def regime_at(regimes, ts: int) -> str:
    current = regimes[0][1]
    for start, name in regimes:
        if start > ts:
            break
        current = name
    return current


def make_world(
    start: int,
    days: int,
    seed: int = 7,
    tick_minutes: int = 15,
    signal_every_hours: float = 2.0,
    vol_24h_bps: float = 35.0,
    diverge_from: int | None = None,
    last_regime: str = "TREND",
) -> World:
    rng = np.random.default_rng(seed)
    step = tick_minutes * 60
    n = days * 24 * 3600 // step + 1
    times = start + np.arange(n) * step
    sigma = vol_24h_bps / 1e4 / np.sqrt(24 * 3600 / step)
    paths = {s: 100.0 * (1 + i) * np.exp(np.cumsum(rng.normal(0, sigma, n))) for i, s in enumerate(SYMBOLS)}
    # Regimes of 3-6 days, alternating, arranged so the last one is `last_regime`.
    bounds, t = [], start
    while t < start + days * 24 * HOUR:
        bounds.append(t)
        t += int(rng.integers(3, 7)) * 24 * HOUR
    names = ["TREND", "RANGE"]
    offset = (len(bounds) - 1) % 2 if last_regime == "TREND" else len(bounds) % 2
    regimes = [(b, names[(i + offset) % 2]) for i, b in enumerate(bounds)]

    prices = [
        {"ts": format_ts(int(tt)), "symbol": s, "price": round(float(p[i]), 6)}
        for i, tt in enumerate(times)
        for s, p in paths.items()
    ]
    events, k = [], 0
    horizon = 24 * 3600 // step
    for strategy, agents in STRATEGIES.items():
        for agent in agents:
            t_sig = start + int(rng.integers(0, 3600))
            while t_sig < times[-1] - 3600:
                i = int((t_sig - start) // step)
                sym = SYMBOLS[int(rng.integers(len(SYMBOLS)))]
                p = paths[sym]
                j = min(i + horizon, n - 1)
                r = (p[j] / p[i] - 1) * 1e4  # the next day's move, in bps
                view = r + rng.normal(0, 1.2 * vol_24h_bps)
                regime = regime_at(regimes, t_sig)
                side = 1 if view > 0 else -1
                big = abs(r) > 0.9 * vol_24h_bps
                if (
                    big
                    and ((strategy == "macro" and regime == "TREND") or (strategy == "arb" and regime == "RANGE"))
                    and rng.random() < 0.55
                ):
                    side = -side if r * side > 0 else side  # caught on the wrong side of the move
                if agent == "mom-3" and diverge_from is not None and t_sig >= diverge_from and rng.random() < 0.7:
                    side = -1 if r > 0 else 1  # its edge has turned into an anti-edge
                score = float(np.clip(abs(view) / (2.5 * vol_24h_bps), 0.02, 1.0))
                ev = {
                    "event_id": f"ev-{k:06d}",
                    "ts": format_ts(t_sig),
                    "agent": agent,
                    "symbol": sym,
                    "side": "long" if side > 0 else "short",
                    "score_final": round(score, 4),
                    "confidence": round(float(rng.uniform(0.3, 0.95)), 3),
                    "regime": regime,
                }
                if rng.random() < 0.3:
                    ev["price"] = round(float(p[i]), 6)
                events.append(ev)
                k += 1
                t_sig += int(signal_every_hours * HOUR * rng.uniform(0.5, 1.5))
    events.sort(key=lambda e: (e["ts"], e["event_id"]))
    return World(prices, events, regimes)
