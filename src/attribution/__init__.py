"""attribution: exact, explainable LLM cost attribution.

The pipeline, one pure function per stage::

    normalize  ->  price  ->  rollup
    (payloads)     (cards)    (by owner, model, day...)

>>> import attribution as at
>>> from datetime import datetime, timezone
>>> at.cost("openai", "gpt-4o", at.Usage(input=40_000_000, cached_input=10_000_000, output=8_000_000),
...         at=datetime(2025, 6, 1, tzinfo=timezone.utc))
Decimal('192.50')
"""

from __future__ import annotations

from ._allocate import (
    AllocatedShare,
    Allocation,
    AllocationRow,
    Policy,
    Pool,
    PoolAllocation,
    allocate,
    apply_policy,
    load_policy,
    parse_policy,
)
from ._audit import AuditReport, ChargeLine, charge_lines, run_audit
from ._cards import load_card
from ._change import Anomaly, ChangeRow, explain_change, find_anomalies
from ._coverage import BudgetLine, Coverage, budget_report, coverage
from ._invoice import InvoiceLine
from ._ownership import OwnerEntry, OwnerMap, OwnershipContract, apply_ownership, check_owner, load_owner_map
from ._pricing import cost, price, price_many
from ._reconcile import (
    Cause,
    ReconciledLine,
    Reconciliation,
    TrueUp,
    TrueUpRow,
    UnmatchedUsage,
    reconcile,
    true_up,
)
from ._records import PricedRecord, Quarantined, SourceLocation, UsageRecord
from ._registry import LineItem, ModelInfo, Rate, Registry, default_registry, load_registry
from ._rollup import Rollup, RollupEntry, rollup
from ._tree import RequestTree, build_forest, call_role
from ._usage import METERS, Usage
from .exceptions import (
    AttributionError,
    CurrencyMismatch,
    InvalidTimestamp,
    InvalidUsage,
    InvoiceError,
    MissingDependency,
    NormalizeError,
    OwnershipError,
    PolicyError,
    PriceCardError,
    PriceNotInForce,
    UnknownModel,
    UnknownProvider,
    UnknownServiceTier,
    UnpricedMeter,
)
from .invoices import read_invoice, total_by_currency
from .normalize import normalize, normalize_many

__version__ = "0.1.0"

__all__ = [
    "METERS",
    "AllocatedShare",
    "Allocation",
    "AllocationRow",
    "Anomaly",
    "AttributionError",
    "AuditReport",
    "BudgetLine",
    "Cause",
    "ChangeRow",
    "ChargeLine",
    "Coverage",
    "CurrencyMismatch",
    "InvalidTimestamp",
    "InvalidUsage",
    "InvoiceError",
    "InvoiceLine",
    "LineItem",
    "MissingDependency",
    "ModelInfo",
    "NormalizeError",
    "OwnerEntry",
    "OwnerMap",
    "OwnershipContract",
    "OwnershipError",
    "Policy",
    "PolicyError",
    "Pool",
    "PoolAllocation",
    "PriceCardError",
    "PriceNotInForce",
    "PricedRecord",
    "Quarantined",
    "Rate",
    "ReconciledLine",
    "Reconciliation",
    "Registry",
    "RequestTree",
    "Rollup",
    "RollupEntry",
    "SourceLocation",
    "TrueUp",
    "TrueUpRow",
    "UnknownModel",
    "UnknownProvider",
    "UnknownServiceTier",
    "UnmatchedUsage",
    "UnpricedMeter",
    "Usage",
    "UsageRecord",
    "__version__",
    "allocate",
    "apply_ownership",
    "apply_policy",
    "budget_report",
    "build_forest",
    "call_role",
    "charge_lines",
    "check_owner",
    "cost",
    "coverage",
    "default_registry",
    "explain_change",
    "find_anomalies",
    "load_card",
    "load_owner_map",
    "load_policy",
    "load_registry",
    "normalize",
    "normalize_many",
    "parse_policy",
    "price",
    "price_many",
    "read_invoice",
    "reconcile",
    "rollup",
    "run_audit",
    "total_by_currency",
    "true_up",
]
