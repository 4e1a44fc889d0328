"""UTC timestamps: ISO 8601 text at the edges, integer epoch seconds inside.

Integer seconds keep joins exact (no float rounding at `ts + h`), sort fast in numpy, and
round-trip to the `...Z` text the contracts use.
"""

from __future__ import annotations

from datetime import UTC, datetime

HOUR = 3600


def parse_ts(text: str) -> int:
    """Epoch seconds of an ISO 8601 timestamp that carries a zone (`Z` or an offset).

    Raises ValueError for anything else, including a naive timestamp: its zone is a guess.
    Sub-second parts are truncated (prices and signals are joined at second resolution).

    >>> parse_ts("2026-11-24T10:00:00Z")
    1795514400
    >>> parse_ts("2026-11-24T11:00:00+01:00")
    1795514400
    >>> parse_ts("2026-11-24 10:00")
    Traceback (most recent call last):
    ...
    ValueError: timestamp has no timezone: '2026-11-24 10:00'
    """
    if not isinstance(text, str):
        raise ValueError(f"timestamp must be a string, got {type(text).__name__}")
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp has no timezone: {text!r}")
    return int(moment.timestamp() // 1)


def format_ts(seconds: int | float) -> str:
    """`2026-11-24T10:00:00Z` for epoch seconds.

    >>> format_ts(1795514400)
    '2026-11-24T10:00:00Z'
    """
    return datetime.fromtimestamp(int(seconds), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def month_of(seconds: int) -> str:
    """`YYYY-MM` partition key of a timestamp.

    >>> month_of(1795514400)
    '2026-11'
    """
    return datetime.fromtimestamp(int(seconds), tz=UTC).strftime("%Y-%m")


def day_of(seconds: int) -> str:
    """`YYYY-MM-DD` of a timestamp (daily input partitions are named by it)."""
    return datetime.fromtimestamp(int(seconds), tz=UTC).strftime("%Y-%m-%d")


def hours_between(earlier: str, later: str) -> float:
    """Hours from one ISO 8601 timestamp to another (negative if `later` is earlier).

    >>> hours_between("2026-11-24T10:00:00Z", "2026-11-25T16:30:00+00:00")
    30.5
    """
    return (parse_ts(later) - parse_ts(earlier)) / HOUR


def to_datetime(text: str) -> datetime:
    """The aware UTC datetime of an ISO 8601 timestamp (for libraries that want one)."""
    return datetime.fromtimestamp(parse_ts(text), tz=UTC)


def now_ts() -> str:
    return format_ts(datetime.now(UTC).timestamp())
