"""JSON report: the audit as a documented, versioned document (``docs/json-report.md``).

Money is written as decimal strings (``"192.50"``), never as JSON numbers,
so no consumer ever parses an amount into a float by accident. The
``schema`` field names the version: consumers should check it. The
document's JSON Schema is ``attribution.schemas.load("audit")``.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import IO, Any

from .._audit import AuditReport
from .._fx import FxRate
from .._money import exact

__all__ = ["JSON_SCHEMA", "report_to_json", "write_json"]

#: Bumped on any incompatible change to the document's shape.
JSON_SCHEMA = "attribution.audit/1"


def _fx(rate: FxRate) -> dict[str, Any]:
    return {"from": rate.source, "to": rate.target, "rate": rate.rate, "date": rate.date, "source": rate.origin}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:f}"   # fixed point: "0.0000002", never "2E-7", for every consumer of the document
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@exact
def report_to_json(report: AuditReport) -> dict[str, Any]:
    """The report as plain JSON-ready data (strings for money and dates)."""
    cov = report.coverage
    doc: dict[str, Any] = {
        "schema": JSON_SCHEMA,
        "by": list(report.by),
        "period": report.period,
        "since": report.since,
        "until": report.until,
        "currency": report.currency,
        "engine": {"name": report.engine, "note": report.engine_note},
        "totals": {
            "cost": report.total,
            "records_read": report.records_read,
            "priced_records": report.priced_records,
            "quarantined_records": report.quarantined_records,
            "duplicates": cov.duplicates,
            "excluded_by_date": report.excluded,
            "duplicates_unchecked": report.duplicates_unchecked,
            "requests": report.rollup.requests,
            "request_trees": report.trees,
        },
        "rows": report.rollup.to_records(),
        "coverage": {
            "required": list(report.required),
            "attributed": cov.attributed,
            "unattributed": cov.unattributed,
            "coverage": cov.coverage,
            "unattributed_share": cov.unattributed_share,
            "target": cov.target,
            "passed": cov.passed,
            "by_reason": [{"reason": s.value, "cost": s.cost, "records": s.records} for s in cov.by_reason],
            "by_source": [{"dimension": s.dimension, "value": s.value, "cost": s.cost, "records": s.records}
                          for s in cov.by_source],
            "retry_cost": cov.retry_cost,
            "fallback_cost": cov.fallback_cost,
            "duplicate_cost": cov.duplicate_cost,
            "estimate_drift": {"records": cov.estimate_drift, "amount": cov.estimate_drift_amount},
        },
        "quarantined": {
            "by_reason": dict(report.quarantined),
            "examples": [{"code": q.code, "message": q.message, "stage": q.stage,
                          "source": str(q.source) if q.source else None} for q in report.quarantine_examples],
        },
        "flags": dict(report.flags),
        "periods": report.periods.to_records() if report.periods is not None else None,
        "changes": [{"key": list(c.key), "before": c.before, "after": c.after, "change": c.change,
                     "change_pct": c.change_pct, "parts": dict(c.parts), "driver": c.driver()}
                    for c in report.changes],
        "anomalies": [{"key": list(a.key), "latest": a.latest, "baseline": a.baseline, "reason": a.reason}
                      for a in report.anomalies],
        "top_trees": [{"id": t.id, "cost": t.cost, "calls": len(t.calls), "owner": dict(t.owner),
                       "overhead": t.overhead(), "flags": list(t.flags)} for t in report.top_trees],
        "allocation": report.allocation.summary() if report.allocation is not None else None,
        "reconciliation": None,
        "true_up": report.true_up.to_records() if report.true_up is not None else None,
        "budgets": [{"name": b.name, "month": b.month, "budget": b.budget, "actual": b.actual,
                     "forecast": b.forecast, "projected_over": b.projected_over, "currency": b.currency,
                     **({"fx": [_fx(r) for r in b.fx]} if b.fx else {})} for b in report.budgets],
    }
    rep = report.reconciliation
    if rep is not None:
        # Totals per currency, never one sum across currencies: the top-level totals are only
        # given when the reconciliation has a single currency (null otherwise; read by_currency).
        by_currency = {cur: {"invoiced": t.invoiced, "priced": t.priced, "attributed": t.attributed,
                             "unattributed": t.unattributed, "variance": t.variance, "coverage": t.coverage,
                             "unmatched_cost": t.unmatched_cost, "other_charges": t.other_total}
                       for cur, t in rep.totals.items()}
        single = next(iter(by_currency.values())) if len(by_currency) == 1 else None
        doc["reconciliation"] = {
            "currency": rep.currency,
            **{k: (single[k] if single is not None else None)
               for k in ("invoiced", "priced", "attributed", "unattributed", "variance", "coverage")},
            "by_currency": by_currency,
            "tolerance": rep.tolerance, "passed": rep.passed, "lines": rep.to_records(),
            "unmatched": [{"provider": u.provider, "model": u.model, "meter": u.meter, "day": u.day,
                           "cost": u.cost, "records": u.records, "currency": u.currency} for u in rep.unmatched],
            "other_charges": single["other_charges"] if single is not None else None,
            "unconverted": rep.unconverted,
            # Rows of a whole-cloud export (FOCUS) that are not AI services: counted, never reconciled.
            "out_of_scope": [{"provider": x.provider, "service": x.sku, "rows": int(x.quantity or 0),
                              "amount": x.amount, "currency": x.currency, "period_start": x.period_start,
                              "period_end": x.period_end} for x in rep.out_of_scope],
        }
    return _plain(doc)  # type: ignore[no-any-return]


@exact
def write_json(report: AuditReport, out: IO[str]) -> None:
    """Write the report as indented JSON (schema ``attribution.audit/1``)."""
    json.dump(report_to_json(report), out, indent=2)
    out.write("\n")
