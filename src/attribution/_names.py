"""Names the library and the command line's parser share, in a module that imports nothing.

``attribution --help`` builds its parser from these without importing the
stages that define their meaning, so the command starts in a fraction of the
time; each stage imports its names from here, so there is one source.
"""

from __future__ import annotations

#: Periods an audit can compare (``--period``): each is also a rollup time dimension.
PERIODS = ("day", "week", "month")
#: Peers whose installed price data ``cards diff`` reads.
PEERS = ("genai-prices", "litellm")
#: Required owner fields when a contract does not say otherwise (seed 001).
DEFAULT_REQUIRED = ("team", "project", "environment")
#: Report formats ``write_report`` knows (``--format``), and those that are binary files.
REPORT_FORMATS = ("csv", "focus", "focus-parquet", "html", "json", "parquet", "table")
BINARY_FORMATS = frozenset({"focus-parquet", "parquet"})
