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

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from ._usage import METERS, Usage
from ._version import __version__
from .exceptions import (
    AttributionError,
    CurrencyMismatch,
    FxTableError,
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

if TYPE_CHECKING:  # the names below load on first use (PEP 562); see __getattr__
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
    from ._audit import (
        AuditReport,
        ChargeLine,
        charge_lines,
        run_audit,
    )
    from ._cardbuild import model_price, price_card, price_period
    from ._cards import load_card
    from ._change import (
        Anomaly,
        ChangeRow,
        explain_change,
        find_anomalies,
    )
    from ._coverage import (
        BudgetLine,
        Coverage,
        budget_report,
        coverage,
    )
    from ._fx import FxRate, FxTable, load_fx
    from ._invoice import InvoiceLine
    from ._ownership import (
        OwnerEntry,
        OwnerMap,
        OwnershipContract,
        apply_ownership,
        check_owner,
        load_owner_map,
    )
    from ._pricing import (
        cost,
        price,
        price_many,
    )
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
    from ._records import (
        PricedRecord,
        Quarantined,
        SourceLocation,
        UsageRecord,
    )
    from ._registry import (
        LineItem,
        ModelInfo,
        Rate,
        Registry,
        default_registry,
        load_registry,
    )
    from ._rollup import (
        Rollup,
        RollupEntry,
        rollup,
    )
    from ._tree import (
        DuplicateFilter,
        RequestTree,
        build_forest,
        call_role,
        dedupe,
        duplicate_key,
    )
    from .invoices import read_invoice, total_by_currency
    from .normalize import normalize, normalize_many

# Where each lazily loaded public name lives. `import attribution` stays cheap (a CLI call or
# short script pays only for what it uses); the first access imports the module.
_LAZY: dict[str, str] = {
    "AllocatedShare": "._allocate",
    "Allocation": "._allocate",
    "AllocationRow": "._allocate",
    "Policy": "._allocate",
    "Pool": "._allocate",
    "PoolAllocation": "._allocate",
    "allocate": "._allocate",
    "apply_policy": "._allocate",
    "load_policy": "._allocate",
    "parse_policy": "._allocate",
    "AuditReport": "._audit",
    "ChargeLine": "._audit",
    "charge_lines": "._audit",
    "run_audit": "._audit",
    "model_price": "._cardbuild",
    "price_card": "._cardbuild",
    "price_period": "._cardbuild",
    "load_card": "._cards",
    "Anomaly": "._change",
    "ChangeRow": "._change",
    "explain_change": "._change",
    "find_anomalies": "._change",
    "BudgetLine": "._coverage",
    "Coverage": "._coverage",
    "budget_report": "._coverage",
    "coverage": "._coverage",
    "FxRate": "._fx",
    "FxTable": "._fx",
    "load_fx": "._fx",
    "InvoiceLine": "._invoice",
    "OwnerEntry": "._ownership",
    "OwnerMap": "._ownership",
    "OwnershipContract": "._ownership",
    "apply_ownership": "._ownership",
    "check_owner": "._ownership",
    "load_owner_map": "._ownership",
    "cost": "._cost",
    "price": "._pricing",
    "price_many": "._pricing",
    "Cause": "._reconcile",
    "ReconciledLine": "._reconcile",
    "Reconciliation": "._reconcile",
    "TrueUp": "._reconcile",
    "TrueUpRow": "._reconcile",
    "UnmatchedUsage": "._reconcile",
    "reconcile": "._reconcile",
    "true_up": "._reconcile",
    "PricedRecord": "._records",
    "Quarantined": "._records",
    "SourceLocation": "._records",
    "UsageRecord": "._records",
    "LineItem": "._registry",
    "ModelInfo": "._registry",
    "Rate": "._registry",
    "Registry": "._registry",
    "default_registry": "._registry",
    "load_registry": "._registry",
    "Rollup": "._rollup",
    "RollupEntry": "._rollup",
    "rollup": "._rollup",
    "DuplicateFilter": "._tree",
    "RequestTree": "._tree",
    "build_forest": "._tree",
    "call_role": "._tree",
    "dedupe": "._tree",
    "duplicate_key": "._tree",
    "read_invoice": ".invoices",
    "total_by_currency": ".invoices",
    "normalize_many": ".normalize",
}



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
    "DuplicateFilter",
    "FxRate",
    "FxTable",
    "FxTableError",
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
    "dedupe",
    "default_registry",
    "duplicate_key",
    "explain_change",
    "find_anomalies",
    "load_card",
    "load_fx",
    "load_owner_map",
    "load_policy",
    "load_registry",
    "model_price",
    "normalize",
    "normalize_many",
    "parse_policy",
    "price",
    "price_card",
    "price_many",
    "price_period",
    "read_invoice",
    "reconcile",
    "rollup",
    "run_audit",
    "total_by_currency",
    "true_up",
]


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'attribution' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """``attribution.normalize`` is the function, even after its subpackage is imported.

    Importing ``attribution.normalize.openai`` (say) makes the import system bind the
    subpackage ``attribution.normalize`` as an attribute of this package, which would hide
    the public function of the same name. This property keeps the function; the subpackage
    stays reachable as ``sys.modules["attribution.normalize"]`` and by ``import`` statements.
    """

    @property
    def normalize(self) -> Any:
        return importlib.import_module(".normalize", __name__).normalize

    @normalize.setter
    def normalize(self, value: Any) -> None:  # the import system's binding of the subpackage
        return


sys.modules[__name__].__class__ = _Package
