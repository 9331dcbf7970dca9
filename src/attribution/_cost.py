"""``cost()``: one usage on one model, priced, for scripts and the first call of a process.

Kept apart from :mod:`attribution._pricing` so that ``import attribution`` plus a
first ``cost()`` loads neither the record types nor the pricing of streams:
the cold start the command line and short scripts pay.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from ._money import to_decimal
from ._registry import Registry, default_registry
from ._usage import Usage

__all__ = ["cost"]


def cost(provider: str, model: str, usage: Usage, at: datetime | date | None = None,
         registry: Registry | None = None, service_tier: str | None = None,
         region: str | None = None) -> Decimal:
    """Exact cost of ``usage`` on ``model`` at instant ``at``.

    ``at=None`` uses the newest price on the card; pass the request's time to
    reprice history (a price change mid-month prices each request at the rate
    in force then).

    >>> from datetime import datetime, timezone
    >>> cost("openai", "gpt-4o", Usage(input=40_000_000, cached_input=10_000_000, output=8_000_000),
    ...      at=datetime(2025, 6, 1, tzinfo=timezone.utc))
    Decimal('192.50')
    """
    reg = registry if registry is not None else default_registry()
    rate = reg.resolve(provider, model, at, service_tier=service_tier, region=region)
    return to_decimal(rate.units(usage))
