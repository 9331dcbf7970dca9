"""Errors: one line each, catchable by the builtin they fit, and picklable with their fields.

Pickling matters because errors cross process boundaries (Dask tasks, multiprocessing
pools) and every subclass has an ``__init__`` whose signature differs from its ``args``.
"""

from __future__ import annotations

import pickle

import pytest

import attribution as at
from attribution import exceptions

EXAMPLES: list[at.AttributionError] = [
    at.AttributionError("plain"),
    at.InvalidUsage("input", -1, "negative"),
    at.PriceCardError("unknown key 'inptu'", file="cards/acme.toml", path="models[0].prices[0].inptu", line=12),
    at.PolicyError("shares must sum to 100%", file="policy.toml", path="pools[1].shares"),
    at.UnknownModel("openai", "gpt-9", ["gpt-4o", "gpt-4.1"]),
    at.UnknownProvider("acme", "large", ["anthropic", "openai"]),
    at.PriceNotInForce("openai", "gpt-4o", "2020-01-01", "2024-05-13"),
    at.UnknownServiceTier("openai", "gpt-4o", "turbo", ["standard", "batch"]),
    at.UnpricedMeter("openai", "gpt-4o", ["audio_input"]),
    at.OwnershipError("missing owner fields", fields=["team"], file="owners.csv", line=4),
    at.InvoiceError("amount is not a number", file="invoice.csv", line=7, column="amount"),
    at.InvalidTimestamp("at must be a timezone-aware datetime"),
    at.MissingDependency("Parquet output", "arrow", "pyarrow"),
    at.CurrencyMismatch("USD", "EUR", "invoice total"),
    at.FxTableError("not an ISO 4217 currency code: 'XXY'", file="fx.toml", line=2, path="rate[0].from"),
    at.NormalizeError("bad_type", "usage.prompt_tokens must be an integer", path="usage.prompt_tokens",
                      file="calls.jsonl", line=3),
]


def test_every_exported_error_has_an_example() -> None:
    assert {type(e).__name__ for e in EXAMPLES} == set(exceptions.__all__)


@pytest.mark.parametrize("error", EXAMPLES, ids=lambda e: type(e).__name__)
def test_errors_survive_pickling_with_their_fields(error: at.AttributionError) -> None:
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error)
    assert str(back) == str(error)
    assert back.args == error.args
    assert vars(back) == vars(error)


@pytest.mark.parametrize("error", EXAMPLES, ids=lambda e: type(e).__name__)
def test_errors_print_as_one_line(error: at.AttributionError) -> None:
    assert "\n" not in str(error)
    assert str(error)


def test_located_errors_name_file_line_and_key() -> None:
    err = at.PriceCardError("unknown key 'inptu'", file="cards/acme.toml", path="models[0].prices[0].inptu", line=12)
    assert str(err) == "cards/acme.toml:12: models[0].prices[0].inptu: unknown key 'inptu'"
    assert isinstance(err, ValueError)
    assert isinstance(at.UnknownModel("openai", "x"), LookupError)
