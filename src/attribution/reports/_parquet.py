"""Parquet report: the audit's charge lines as a typed table for warehouses and query engines.

The same rows as the CSV report (one per :class:`~attribution.ChargeLine`),
with real types instead of text: ``day`` is a ``date32``, counts are
``int64``, and ``unit_price`` and ``amount`` are ``decimal128(38, 15)``, the
engine's own precision (10^-15 of the currency), so DuckDB, Spark or pandas
sum them without a float in sight: ``SELECT team, sum(amount) ... GROUP BY
team`` gives the report's totals to the last digit. Owner dimensions are
string columns named as in the CSV report.

The file carries key-value metadata: ``attribution.schema``
(``attribution.charges/1``), ``attribution.by`` (the owner dimensions, JSON),
``attribution.currency`` and ``attribution.total`` (the exact total).

Needs the optional ``arrow`` extra (``pip install 'attribution[arrow]'``);
pyarrow is imported only when a Parquet file is written.
"""

from __future__ import annotations

import importlib
import json
from typing import IO, Any

from .._audit import AuditReport
from .._money import exact
from .._notebook import MONEY_TYPE
from ..exceptions import MissingDependency
from ._csv import CHARGE_COLUMNS, owner_columns

__all__ = ["PARQUET_SCHEMA", "charges_to_arrow", "write_parquet"]

#: Bumped on any incompatible change to the table's columns.
PARQUET_SCHEMA = "attribution.charges/1"


def _pyarrow(feature: str) -> tuple[Any, Any]:
    try:
        pa = importlib.import_module("pyarrow")
        pq = importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise MissingDependency(feature, "arrow", "pyarrow") from None
    return pa, pq


def charges_to_arrow(report: AuditReport) -> Any:
    """The report's charge lines as a ``pyarrow.Table`` (columns as in :func:`write_parquet`)."""
    pa, _ = _pyarrow("the Parquet report")
    money = pa.decimal128(MONEY_TYPE[1], MONEY_TYPE[2])
    types = {"day": pa.date32(), "quantity": pa.int64(), "unit_price": money, "per": pa.int64(), "amount": money,
             "records": pa.int64()}
    lines = report.charges
    values: dict[str, list[Any]] = {
        "day": [c.day for c in lines],
        "provider": [c.provider for c in lines],
        "model": [c.model for c in lines],
        "meter": [c.meter for c in lines],
        "quantity": [c.quantity for c in lines],
        "unit_price": [c.unit_price for c in lines],
        "per": [c.per for c in lines],
        "amount": [c.amount for c in lines],
        "currency": [c.currency for c in lines],
        "service_tier": [c.service_tier for c in lines],
        "region": [c.region for c in lines],
        "card_version": [c.card_version for c in lines],
        "records": [c.records for c in lines],
    }
    assert tuple(values) == CHARGE_COLUMNS
    owners = owner_columns(report)
    for i, name in enumerate(owners):
        values[name] = [c.owner[i][1] for c in lines]
    fields = [pa.field(name, types.get(name, pa.string())) for name in values]
    metadata = {"attribution.schema": PARQUET_SCHEMA, "attribution.by": json.dumps(list(report.by)),
                "attribution.currency": report.currency or "", "attribution.total": format(report.total, "f")}
    schema = pa.schema(fields, metadata=metadata)
    arrays = [pa.array(values[f.name], type=f.type) for f in fields]
    return pa.Table.from_arrays(arrays, schema=schema)


@exact
def write_parquet(report: AuditReport, out: IO[bytes]) -> None:
    """Write the report's charge lines as a Parquet file to a binary stream.

    Columns: ``day`` (date32, UTC; null for calls without a timestamp),
    ``provider``, ``model``, ``meter`` (string), ``quantity`` (int64),
    ``unit_price`` (decimal128(38, 15), per ``per`` units), ``per`` (int64),
    ``amount`` (decimal128(38, 15), exact), ``currency``, ``service_tier``,
    ``region``, ``card_version`` (string), ``records`` (int64), then one string
    column per owner dimension.

    Raises:
        MissingDependency: pyarrow is not installed (extra ``arrow``).
    """
    _, pq = _pyarrow("the Parquet report")
    pq.write_table(charges_to_arrow(report), out)
