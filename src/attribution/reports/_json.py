"""JSON report: the audit as a documented, versioned document (``docs/report-json.md``).

Money is written as decimal strings (``"192.50"``), never as JSON numbers,
so no consumer ever parses an amount into a float by accident. The
``schema`` field names the version: consumers should check it.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import IO, Any

from .._audit import AuditReport

__all__ = ["JSON_SCHEMA", "report_to_json", "write_json"]

#: Bumped on any incompatible change to the document's shape.
JSON_SCHEMA = "attribution.audit/1"


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


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
                     "forecast": b.forecast, "projected_over": b.projected_over} for b in report.budgets],
    }
    rep = report.reconciliation
    if rep is not None:
        doc["reconciliation"] = {
            "invoiced": rep.invoiced, "priced": rep.priced, "attributed": rep.attributed,
            "unattributed": rep.unattributed, "variance": rep.variance, "coverage": rep.coverage,
            "tolerance": rep.tolerance, "passed": rep.passed, "lines": rep.to_records(),
            "unmatched": [{"provider": u.provider, "model": u.model, "meter": u.meter, "day": u.day,
                           "cost": u.cost, "records": u.records} for u in rep.unmatched],
            "other_charges": rep.other_total,
        }
    return _plain(doc)  # type: ignore[no-any-return]


def write_json(report: AuditReport, out: IO[str]) -> None:
    """Write the report as indented JSON (schema ``attribution.audit/1``)."""
    json.dump(report_to_json(report), out, indent=2)
    out.write("\n")
