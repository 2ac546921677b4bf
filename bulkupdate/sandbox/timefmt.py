"""Timestamps as Telnyx writes them: ISO 8601, UTC, milliseconds, ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime


def iso8601(seconds: float) -> str:
    """
    >>> iso8601(1603476600.0)
    '2020-10-23T18:10:00.000Z'
    """
    return iso8601_us(round(seconds * 1_000_000))


def iso8601_us(micros: int) -> str:
    """The same from whole microseconds since the epoch (milliseconds shown, rounded down)."""
    whole, fraction = divmod(micros, 1_000_000)
    moment = datetime.fromtimestamp(whole, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{fraction // 1000:03d}Z"
