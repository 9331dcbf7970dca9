"""A cost stated by the provider or gateway travels on the record and is checked against the card."""

from __future__ import annotations

import pickle
from datetime import datetime, timezone
from decimal import Decimal

import pytest

import attribution as at

AT = datetime(2025, 6, 1, tzinfo=timezone.utc)
USAGE = at.Usage(input=4_000, cached_input=1_000, output=800)   # gpt-4o on 2025-06-01: $0.01925


def _rec(stated: str | None, currency: str | None = "USD") -> at.UsageRecord:
    return at.UsageRecord(provider="openai", model="gpt-4o", at=AT, usage=USAGE,
                          stated_cost=None if stated is None else Decimal(stated), stated_cost_currency=currency,
                          stated_cost_source="litellm response_cost")


def test_matching_stated_cost_is_not_flagged() -> None:
    p = at.price(_rec("0.01925"))
    assert p.cost == Decimal("0.01925")
    assert "stated_cost_drift" not in p.flags
    assert "stated cost 0.01925 USD (litellm response_cost)" in p.explain()


def test_stated_cost_beyond_one_percent_is_flagged() -> None:
    assert "stated_cost_drift" not in at.price(_rec("0.0194")).flags       # 0.78% apart
    assert "stated_cost_drift" in at.price(_rec("0.0195")).flags           # 1.3% apart
    assert "stated_cost_drift" not in at.price(_rec("0.0195"), stated_cost_tolerance=Decimal("0.02")).flags


def test_stated_cost_in_another_currency_is_not_compared() -> None:
    flags = at.price(_rec("5", currency="EUR")).flags
    assert "stated_cost_other_currency" in flags
    assert "stated_cost_drift" not in flags


def test_stated_cost_must_be_exact() -> None:
    with pytest.raises(TypeError):
        at.UsageRecord(provider="openai", model="gpt-4o", usage=USAGE, stated_cost=0.01925)  # type: ignore[arg-type]


def test_unpriced_record_keeps_its_stated_cost_in_the_quarantine_reason() -> None:
    rec = at.UsageRecord(provider="openrouter", model="openai/gpt-4o-mini", at=AT, usage=USAGE,
                         stated_cost=Decimal("0.0000435"), stated_cost_currency="USD",
                         stated_cost_source="openrouter usage.cost")
    (q,) = at.price_many([rec])
    assert isinstance(q, at.Quarantined)
    assert q.code == "unknown_model"
    assert "states its cost: 0.0000435 USD, openrouter usage.cost" in q.message


def test_stated_cost_survives_pickling() -> None:
    rec = _rec("0.01925")
    assert pickle.loads(pickle.dumps(rec)) == rec
