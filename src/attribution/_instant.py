"""The domain of instants: which timestamps the library accepts at all.

A timestamp is accepted when, converted to UTC, it falls on a day from
0001-01-02 to 9998-12-31 (:data:`EARLIEST` inclusive to :data:`END`
exclusive). Every computation the engine and the reports make on an accepted
instant then stays inside what :mod:`datetime` can represent: its UTC day,
the day before and after it, its ISO week, and its calendar month's end (the
FOCUS writer's ``BillingPeriodEnd`` of a December 9998 row is 9999-01-01).
``9999-12-31T23:00:00-05:00`` would overflow the conversion itself. Such a
timestamp is corrupt data, rejected with the field named (a record is
quarantined as ``bad_timestamp``), never a crash in a writer.

The check is cheap: any instant whose own year is 2..9997 is inside whatever
its offset, so only the edge years pay for a conversion.

>>> from datetime import timedelta, timezone
>>> instant_problem(datetime(2025, 6, 1, tzinfo=timezone.utc)) is None
True
>>> instant_problem(datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))))
'9999-12-31T23:00:00-05:00 is outside the supported range 0001-01-02 .. 9998-12-31 UTC'
"""

from __future__ import annotations

from datetime import date, datetime, timezone

__all__ = ["EARLIEST", "END", "instant_problem"]

UTC = timezone.utc
#: The first accepted instant (UTC).
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
#: The first instant past the accepted range (UTC).
END = datetime(9999, 1, 1, tzinfo=UTC)
_RANGE = f"{EARLIEST.date().isoformat()} .. 9998-12-31 UTC"


def instant_problem(value: datetime | date) -> str | None:
    """``None`` if ``value`` is inside the domain, else the reason (a naive datetime is read as UTC)."""
    if 1 < value.year < 9998:
        return None
    if not isinstance(value, datetime):
        inside = EARLIEST.date() <= value < END.date()
    else:
        try:
            utc = value.astimezone(UTC) if value.utcoffset() is not None else value.replace(tzinfo=UTC)
        except OverflowError:
            inside = False
        else:
            inside = EARLIEST <= utc < END
    return None if inside else f"{value.isoformat()} is outside the supported range {_RANGE}"
