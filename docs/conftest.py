"""The docs' pycon examples run as tests; a page whose examples need an optional extra skips without it."""

from __future__ import annotations

import importlib.util

import pytest

#: Page -> the modules its examples import (the extras a reader installs first).
NEEDS = {
    "cookbook.md": ("pandas", "pyarrow"),
    "integrations.md": ("opentelemetry.sdk",),
    "json-report.md": ("jsonschema",),
}


def _missing(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except ModuleNotFoundError:
        return True


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        needs = NEEDS.get(item.path.name, ()) if item.path.parent.name == "docs" else ()
        absent = [m for m in needs if _missing(m)]
        if absent:
            item.add_marker(pytest.mark.skip(reason=f"needs {', '.join(absent)} (an optional extra)"))
