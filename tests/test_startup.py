"""Cold start: lazy public names, the validated-card cache, and what `import attribution` loads.

The 150 ms budget itself is measured in benchmarks/ (timings do not belong in tests);
these tests pin the mechanisms that make it possible, so a stray eager import or a
stale cache entry fails here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import attribution as at

# The cache's own behaviour (hits, misses, tampering, owners, links) is tested in test_cardcache.py.


def _fresh(code: str, **env: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, **env})
    return out.stdout.strip()


def test_import_loads_only_the_core() -> None:
    """`import attribution` must not pull in the heavy stages; the first use of a name does."""
    loaded = json.loads(_fresh(
        "import sys, json, attribution\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('attribution', 'cattrs', 'tomllib')))))"))
    assert "cattrs" not in loaded
    assert "tomllib" not in loaded
    for heavy in ("attribution._allocate", "attribution._audit", "attribution.normalize",
                  "attribution.invoices", "attribution._reconcile", "attribution._registry"):
        assert heavy not in loaded


def test_warm_cost_needs_neither_toml_nor_cattrs(tmp_path: Path) -> None:
    code = ("import sys, attribution as a\n"
            "print(a.cost('openai', 'gpt-4o', a.Usage(input=1_000_000)),"
            " 'cattrs' in sys.modules, 'tomllib' in sys.modules, 'attribution._records' in sys.modules)")
    cold = _fresh(code, ATTRIBUTION_CACHE_DIR=str(tmp_path))
    warm = _fresh(code, ATTRIBUTION_CACHE_DIR=str(tmp_path))
    assert cold == "2.50 True True False"
    assert warm == "2.50 False False False"   # nor the record types: cost() needs only the registry


def test_every_public_name_resolves() -> None:
    for name in at.__all__:
        assert getattr(at, name) is not None, name
    assert set(at.__all__) <= set(dir(at))
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        at.nonsense  # noqa: B018


def test_normalize_stays_the_function_after_its_subpackage_is_imported() -> None:
    out = _fresh("import attribution.normalize.openai, attribution as a, sys\n"
                 "print(callable(a.normalize), a.normalize.__name__, type(sys.modules['attribution.normalize']).__name__)")
    assert out == "True normalize module"


def test_the_command_line_imports_only_what_its_command_runs() -> None:
    """`attribution --help` and `attribution price` must not import the audit, the reconciler or the writers."""
    code = ("import sys, json, contextlib, io\n"
            "from attribution import cli\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    code = cli.main(['price', '--provider', 'openai', '--model', 'gpt-4o', '--input', '1000'])\n"
            "print(json.dumps([code, sorted(m for m in sys.modules if m.startswith('attribution'))]))")
    code_, loaded = json.loads(_fresh(code))
    assert code_ == 0
    for heavy in ("attribution._audit", "attribution._reconcile", "attribution.reports", "attribution.normalize",
                  "attribution.invoices", "attribution._allocate", "attribution._carddiff"):
        assert heavy not in loaded


def test_the_command_lines_names_match_the_stages_that_use_them() -> None:
    from attribution import _names
    from attribution._audit import PERIODS
    from attribution._rollup import BUILTIN_DIMENSIONS
    from attribution.reports import BINARY_FORMATS, WRITERS

    assert set(_names.REPORT_FORMATS) == set(WRITERS)
    assert BINARY_FORMATS is _names.BINARY_FORMATS
    assert set(PERIODS) <= set(BUILTIN_DIMENSIONS)   # an audit's period is also a rollup dimension
