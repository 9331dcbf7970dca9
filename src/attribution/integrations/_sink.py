"""Where the integrations put each priced call: a JSON Lines file, your function, or both.

One JSON object per call, money as exact decimal text (never a float):
``{"kind": "priced", "provider", "model", "request_id", "trace_id", "at",
"cost", "currency", "card_version", "meters", "tags", "flags", "lines"}`` or
``{"kind": "quarantined", "code", "message", "stage"}``. Lines are appended
under a lock and flushed, so several threads (LiteLLM's callbacks, a span
processor's exporter thread) can share one file.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from typing import Any

from .._records import PricedRecord, Quarantined

__all__ = ["RecordSink", "record_json"]

#: What a sink's ``on_record`` function receives.
OnRecord = Callable[[PricedRecord | Quarantined], None]


def record_json(item: PricedRecord | Quarantined) -> dict[str, Any]:
    """A priced or quarantined record as a plain JSON object (money as exact decimal strings).

    >>> import attribution as at
    >>> p = at.price(at.UsageRecord(provider="openai", model="gpt-4.1", usage=at.Usage(input=1000, output=10)))
    >>> doc = record_json(p)
    >>> doc["kind"], doc["cost"], doc["meters"], doc["lines"][0]["amount"]
    ('priced', '0.00208', {'input': 1000, 'output': 10}, '0.002')
    """
    if isinstance(item, Quarantined):
        return {"kind": "quarantined", "code": item.code, "message": item.message, "stage": item.stage,
                "source": str(item.source) if item.source else None}
    rec = item.record
    return {
        "kind": "priced",
        "provider": rec.provider,
        "model": item.rate.model,
        "model_requested": rec.model,
        "stated_cost": format(rec.stated_cost, "f") if rec.stated_cost is not None else None,
        "request_id": rec.request_id,
        "trace_id": rec.trace_id,
        "span_id": rec.span_id,
        "parent_id": rec.parent_id,
        "at": rec.at.isoformat() if rec.at is not None else None,
        "outcome": rec.outcome,
        "cost": format(item.cost, "f"),
        "currency": item.currency,
        "card_version": item.card_version,
        "meters": {k: v for k, v in rec.usage.as_dict().items() if v},
        "tags": dict(rec.tags),
        "flags": list(item.flags),
        "lines": [{"meter": li.meter, "quantity": li.quantity, "unit_price": format(li.unit_price, "f"),
                   "per": li.per, "amount": format(li.amount, "f")} for li in item.lines],
    }


class RecordSink:
    """Appends each record to ``path`` as a JSON line and/or calls ``on_record`` with it.

    ``counts`` says how many records went where (``priced``, ``quarantined``,
    ``sink_errors``: an ``on_record`` that raised, or a file that could not be
    written; the integrations never let such an error reach the call being
    logged, but it is counted and kept in ``last_error``).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, on_record: OnRecord | None = None) -> None:
        if path is None and on_record is None:
            raise ValueError("give a JSONL path, an on_record function, or both")
        self.path = os.fspath(path) if path is not None else None
        self.on_record = on_record
        self.counts = {"priced": 0, "quarantined": 0, "sink_errors": 0}
        self.last_error: BaseException | None = None
        self._lock = threading.Lock()

    def put(self, item: PricedRecord | Quarantined) -> None:
        with self._lock:
            self.counts["quarantined" if isinstance(item, Quarantined) else "priced"] += 1
        if self.path is not None:
            line = json.dumps(record_json(item), ensure_ascii=False, separators=(",", ":")) + "\n"
            try:
                with self._lock, open(self.path, "a", encoding="utf-8") as fh:
                    fh.write(line)
                    fh.flush()
            except OSError as exc:
                self._failed(exc)
        if self.on_record is not None:
            try:
                self.on_record(item)
            except Exception as exc:  # a user's function must not break the call it observes
                self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        with self._lock:
            self.counts["sink_errors"] += 1
            self.last_error = exc
