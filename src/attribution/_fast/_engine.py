"""The fast engine's SQL stages and the step from call classes to the audit's aggregates.

Stages (each a DuckDB table in a temporary database that spills to disk, so
memory stays bounded however long the input):

1. ``ev``: one row per input line or row, read in one pass: its number,
   whether it is blank or strict JSON this engine reads (``ok1``), a hash of
   its key lists (its shape), and every field the gateway normalizer reads,
   normalized (``ok_a`` false where the SQL cannot be sure).
2. ``c``: the rows whose shape the Python schema detector calls a flat
   gateway event and whose fields all read exactly; ``pc``: priced against
   the compiled rate table ``rt``.
3. Repeats of one provider call are dropped, request trees are resolved
   (trace groups; owner fields inherited from the root), and calls are grouped
   into classes; Python turns classes into the rollups, coverage counter,
   charge lines, reconciliation cells, budget spend and flags.

Every line that is not fast-readable is read by the Python reader and
normalizer (``_fallback``); if one of those turns out to be a valid call, the
whole input is handed to the Python engine (:class:`Decline`).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from .._audit import (
    EXAMPLES_PER_REASON,
    MAX_EVIDENCE,
    MODEL_DIMENSIONS,
    AuditReport,
    ChargeCounter,
    assemble_report,
)
from .._bounded import current_limits
from .._coverage import SOURCE_DIMENSIONS, CoverageCounter
from .._money import exact, round_to_units
from .._ownership import OwnershipContract, stamp_owner
from .._pricing import price_many
from .._reconcile import _PROJECT_TAGS, _Acc, _Cell, _family
from .._records import PricedRecord, Quarantined, SourceLocation
from .._registry import Rate, Registry, canonical_provider
from .._rollup import _BUILTINS, _WIDTH, Rollup
from .._tree import RequestTree, build_forest
from .._usage import BILLED_METERS, MAX_COUNT, METERS
from ..exceptions import AttributionError
from ..normalize import _EMAIL as _EMAIL_RE
from ..normalize import DEFAULT_TAG_ALIASES, OWNER_DIMENSIONS, Raw, detect_schema, normalize_many
from ..normalize._common import tag_name
from ..normalize.gateway import _CACHED_INCLUDED

__all__ = ["Decline", "fast_audit"]

UTC = timezone.utc
#: DuckDB's memory limit: the 10M-call audit stays under 300 MB of resident memory (it spills to disk).
MEMORY_LIMIT = os.environ.get("ATTRIBUTION_FAST_MEMORY", "160MB")


class Decline(Exception):
    """The fast engine cannot take this input exactly; the message says why."""


# -- the fields the gateway normalizer reads --------------------------------------------------

_STR = ("provider", "model_requested", "model", "model_actual", "model_billed", "request_id", "id", "trace_id",
        "span_id", "parent_id", "parent_span_id", "parent_request_id", "retry_of", "fallback_from", "outcome",
        "status", "service_tier", "region", "price_card_version")
_COUNT = ("input_tokens", "cached_input_tokens", "cache_read_input_tokens", "cache_write_tokens",
          "cache_creation_input_tokens", "cache_write_1h_tokens", "output_tokens", "reasoning_tokens",
          "web_search_requests", "retry_count", "attempt")
_MONEY = ("usd_estimate", "estimated_cost_usd", "cost_usd", "estimated_cost")
_NESTED = ("tags", "metadata", "labels")
_ALIASES = tuple(DEFAULT_TAG_ALIASES)
_FIELDS = (*_STR, *_COUNT, *_MONEY, "timestamp", *_NESTED, *_ALIASES)
_KEY = re.compile(r"[A-Za-z0-9_]+")
_TS = (r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?(?:[.,]([0-9]+))?"
       r"(Z|z|[+-][0-9]{2}(?::?[0-9]{2})?)?$")
#: Meters a flat event can carry, as columns of ``c`` (BILLED_METERS order, then reasoning).
_METER_COLS = {"input": "m_in", "cached_input": "m_cached", "cache_write": "m_cw", "cache_write_1h": "m_cw1h",
               "output": "m_out", "web_search": "m_web", "reasoning": "m_reason"}
_BILLED_COLS = [(i, m, _METER_COLS[m]) for i, m in enumerate(BILLED_METERS) if m in _METER_COLS]


def _q(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _jt(f: str) -> str:
    return f"y_{f}"   # json_type(j_f), computed once per row in _create_ev


def _tx(f: str) -> str:
    return f"x_{f}"   # j_f ->> '$'


def _sv(f: str) -> str:
    """A string field as the normalizer reads it (numbers as their text), else NULL."""
    return f"(CASE WHEN {_jt(f)} IN ('VARCHAR', 'UBIGINT', 'BIGINT') THEN {_tx(f)} END)"


def _str_ok(f: str) -> str:
    return f"({_jt(f)} IS NULL OR {_jt(f)} IN ('NULL', 'VARCHAR', 'UBIGINT', 'BIGINT'))"


def _first(fields: Sequence[str]) -> str:
    """The first non-empty string among ``fields`` (the normalizer's ``_first``)."""
    return "COALESCE(" + ", ".join(f"NULLIF({_sv(f)}, '')" for f in fields) + ")"


def _cnt_ok(f: str) -> str:
    return (f"({_jt(f)} IS NULL OR {_jt(f)} = 'NULL' OR ({_jt(f)} = 'UBIGINT' AND TRY_CAST({_tx(f)} AS HUGEINT) "
            f"<= {MAX_COUNT}) OR ({_jt(f)} = 'VARCHAR' AND regexp_full_match({_tx(f)}, '[0-9]{{1,15}}') "
            f"AND CAST({_tx(f)} AS BIGINT) <= {MAX_COUNT}))")


def _cv(f: str) -> str:
    return f"COALESCE(CASE WHEN {_jt(f)} IN ('UBIGINT', 'VARCHAR') THEN TRY_CAST({_tx(f)} AS BIGINT) END, 0)"


# -- stage 1: reading -------------------------------------------------------------------------


def _struct(fields: Sequence[str]) -> str:
    return "{" + ", ".join(f'"{f}": "JSON"' for f in fields) + "}"


_CHUNK = 4 << 20


def _chunks(path: Path) -> Iterator[bytes]:
    """The file in 16 MiB pieces (read, not mapped: mapped pages would count in the process's resident memory)."""
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                return
            yield chunk


def _check_bytes(path: Path) -> None:
    """Lines are split by DuckDB's CSV reader: a CR or a 0x01 byte would split them differently."""
    for chunk in _chunks(path):
        if b"\r" in chunk:
            raise Decline(f"{path.name} has CR line endings")
        if b"\x01" in chunk:
            raise Decline(f"{path.name} holds 0x01 bytes")


def _lines_sql(run: _Run, fi: int, path: Path, cap: int) -> str:
    """The file's lines, numbered, as a table: numbering is a streaming window, which runs on one thread, so
    it is done alone (a light pass) and the parsing that reads the table runs on every thread."""
    if fi not in run.lines:
        _guarded(run, fi, f"""
            CREATE TABLE lines_{fi} AS SELECT row_number() OVER () AS n, line
            FROM read_csv({_q(str(path))}, columns={{'line': 'VARCHAR'}}, header=false, delim=e'\\x01', quote='',
                          escape='', auto_detect=false, strict_mode=false, max_line_size={cap + 1024},
                          buffer_size={2 * (cap + 1024)}, compression='none')""")
        run.lines.add(fi)
    return f"(SELECT n, line FROM lines_{fi})"


def _nested_keys(col: str) -> str:
    return f"CASE WHEN json_type({col}) = 'OBJECT' THEN json_keys({col}) END"


def _rel_jsonl(run: _Run, fi: int, path: Path, cap: int) -> str:
    """The lines of a JSONL file as ``(file, line, blank, ok1, kh, kh2, nb, j_<field>..., r_<money>...)``."""
    _check_bytes(path)
    sel = ", ".join(f"s.{f} AS j_{f}" for f in _FIELDS)
    # An estimate logged as a float keeps its exact text (JSON doubles are re-printed by DuckDB).
    raw_money = ", ".join(
        f"CASE WHEN json_type(s.{f}) = 'DOUBLE' AND (length(line) - length(replace(line, '\"{f}\"', ''))) = "
        f"{len(f) + 2} THEN regexp_extract(line, '\"{f}\"[ ]*:[ ]*(-?[0-9][0-9.eE+-]*)', 1) END AS r_{f}"
        for f in _MONEY)
    nested = ", ".join(_nested_keys(f"s.{m}") for m in _NESTED)
    return rf"""(
        SELECT {fi} AS file, n AS line, blank, ok1, nb, hash(keys, {nested}) AS kh, hash(keys, {nested}, 1) AS kh2,
               {sel}, {raw_money}
        FROM (
            SELECT n, line, blank, nb, keys, ok1,
                   CASE WHEN ok1 THEN json_transform(line, {_q(_struct(_FIELDS))}) END AS s
            FROM (
                SELECT n, line, blank, nb, keys, COALESCE(len(keys) > 0, false) AS ok1
                FROM (
                    SELECT n, line, blank, nb, CASE WHEN pre THEN try(json_keys(line)) END AS keys
                    FROM (
                        SELECT n, line,
                               line IS NULL OR regexp_full_match(line, '[ \t\x0b\x0c]*') AS blank,
                               COALESCE(strlen(line) < {cap} AND NOT contains(line, 'NaN')
                                        AND NOT contains(line, 'Infinity')
                                        AND NOT regexp_matches(line, ',[ \t\n]*[}}\]]'), false) AS pre,
                               length(line) - length(replace(replace(line, '{{', ''), '[', '')) AS nb
                        FROM {_lines_sql(run, fi, path, cap)}
                    )
                )
            )
        )
    )"""


def _rel_csv(run: _Run, fi: int, path: Path, cap: int) -> str:
    _check_bytes(path)
    head = next(_chunks(path), b"")
    if head.startswith(b"\xef\xbb\xbf"):
        raise Decline(f"{path.name}: a BOM-prefixed CSV is read by the Python reader")
    for chunk in _chunks(path):
        if b'"' in chunk:
            raise Decline(f"{path.name}: quoted CSV is read by the Python reader")
    first = head.split(b"\n", 1)[0].decode("utf-8", "replace")
    header = [h.strip() for h in first.split(",")]
    if not first.strip() or len(set(header)) != len(header) or not all(header):
        raise Decline(f"{path.name}: the header row is read by the Python reader")
    cols = {name: i + 1 for i, name in enumerate(header) if name in _FIELDS}
    sel = ", ".join(f"CASE WHEN cells[{cols[f]}] <> '' THEN to_json(cells[{cols[f]}]) END AS j_{f}" if f in cols
                    else f"NULL::JSON AS j_{f}" for f in _FIELDS)
    names = "[" + ", ".join(f"CASE WHEN cells[{i + 1}] <> '' THEN {_q(h)} END" for i, h in enumerate(header)) + "]"
    money = ", ".join(f"NULL::VARCHAR AS r_{f}" for f in _MONEY)
    return rf"""(
        SELECT {fi} AS file, n AS line, blank, ok1, 1 AS nb,
               hash(list_filter({names}, lambda x: x IS NOT NULL)) AS kh,
               hash(list_filter({names}, lambda x: x IS NOT NULL), 1) AS kh2, {sel}, {money}
        FROM (
            SELECT n, line, line IS NULL OR regexp_full_match(line, '[ \t\x0b\x0c,]*') AS blank,
                   string_split(line, ',') AS cells,
                   COALESCE(strlen(line) < {cap} AND len(string_split(line, ',')) = {len(header)}, false) AS ok1
            FROM {_lines_sql(run, fi, path, cap)}
        ) WHERE n > 1
    )"""


def _rel_parquet(con: Any, fi: int, path: Path) -> str:
    described = con.execute(f"DESCRIBE SELECT * FROM read_parquet({_q(str(path))})").fetchall()
    types = {row[0]: str(row[1]) for row in described}
    parts = []
    for f in _FIELDS:
        if f not in types:
            parts.append(f"NULL::JSON AS j_{f}")
            continue
        value = (f'to_json(CAST("{f}" AS VARCHAR))' if f in _MONEY and types[f].startswith("DECIMAL")
                 else f'to_json("{f}")')
        parts.append(f'CASE WHEN "{f}" IS NOT NULL THEN {value} END AS j_{f}')
    # The Python reader leaves out null cells: a key is present when its value is not null.
    names = "list_filter([" + ", ".join(f'CASE WHEN "{c}" IS NOT NULL THEN {_q(c)} END' for c in types) + \
        "], lambda x: x IS NOT NULL)"
    nested = ", ".join(_nested_keys(f"j_{m}") for m in _NESTED)
    money = ", ".join(f"NULL::VARCHAR AS r_{f}" for f in _MONEY)
    return f"""(
        SELECT *, hash(keys, {nested}) AS kh, hash(keys, {nested}, 1) AS kh2 FROM (
            SELECT {fi} AS file, file_row_number + 1 AS line, false AS blank, true AS ok1, -1 AS nb,
                   {names} AS keys, {', '.join(parts)}, {money}
            FROM read_parquet({_q(str(path))}, file_row_number=true)
        )
    )"""


# -- which key lists are flat gateway events -------------------------------------------------------


class _Tags:
    """Where each canonical tag comes from: ``{tag: [(level, key), ...]}``."""

    def __init__(self) -> None:
        self.sources: dict[str, list[tuple[str, str]]] = {}

    def add(self, tag: str, level: str, key: str) -> None:
        src = self.sources.setdefault(tag, [])
        if (level, key) not in src:
            src.append((level, key))


#: Top-level alias keys by the canonical tag they name.
_TOP_TAGS: dict[str, list[str]] = {}
for _key, _tag in DEFAULT_TAG_ALIASES.items():
    _TOP_TAGS.setdefault(_tag, []).append(_key)


def _classify(payload: dict[str, Any], tags: _Tags) -> bool:
    """Whether rows shaped like ``payload`` are flat gateway events this engine reads; records nested tag keys."""
    try:
        if detect_schema(payload).id != "gateway":
            return False
    except AttributionError:
        return False
    seen: set[str] = set()
    for key in payload:
        alias = DEFAULT_TAG_ALIASES.get(key)
        if alias is None and not key.islower() and DEFAULT_TAG_ALIASES.get(key.strip().lower()) is not None:
            return False   # TEAM_ID: read by the normalizer through lower(); not extracted here
        if alias is not None:
            if alias in seen:
                return False   # team and team_id in one event: the later one wins in Python
            seen.add(alias)
    found: list[tuple[str, str, str]] = []
    for level in _NESTED:
        inner = payload.get(level)
        if not isinstance(inner, dict):
            continue
        names: set[str] = set()
        for key in inner:
            if not isinstance(key, str) or not _KEY.fullmatch(key):
                return False
            name = tag_name(key, DEFAULT_TAG_ALIASES)
            if name in names:
                return False
            names.add(name)
            found.append((name, level, key))
    for tag, level, key in found:
        tags.add(tag, level, key)
    return True


# -- the engine -----------------------------------------------------------------------------------


class _Run:
    def __init__(self, con: Any, paths: Sequence[Path]) -> None:
        self.con = con
        self.paths = list(paths)
        self.files = [str(p) for p in paths]
        self.lines: set[int] = set()

    def sql(self, text: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.con.execute(text, list(params)).fetchall()  # type: ignore[no-any-return]


def _connect(tmp: str) -> Any:
    import duckdb

    con = duckdb.connect(os.path.join(tmp, "fast.duckdb") if os.environ.get("ATTRIBUTION_FAST_DISK") else ":memory:")
    threads = max(1, min(4, os.cpu_count() or 1))
    con.execute(f"SET memory_limit = {_q(MEMORY_LIMIT)}; SET threads = {threads}; "
                "SET preserve_insertion_order = true; "
                f"SET temp_directory = {_q(os.path.join(tmp, 'spill'))}; SET TimeZone = 'UTC'")
    return con


def _tag_value(level: str, key: str) -> str:
    if level == "top":
        return f"(CASE WHEN y_{key} IN ('VARCHAR', 'UBIGINT', 'BIGINT') THEN x_{key} END)"
    col = f"({level} -> '$.{key}')"
    return f"(CASE WHEN json_type({col}) IN ('VARCHAR', 'UBIGINT', 'BIGINT') THEN {col} ->> '$' END)"


def _tag_ok(level: str, key: str) -> str:
    if level == "top":
        return f"(y_{key} IS NULL OR y_{key} IN ('NULL', 'VARCHAR', 'UBIGINT', 'BIGINT'))"
    col = f"({level} -> '$.{key}')"
    return f"({col} IS NULL OR json_type({col}) IN ('NULL', 'VARCHAR', 'UBIGINT', 'BIGINT'))"


def _typed(rel: str) -> str:
    typed = ", ".join(f"json_type(j_{f}) AS y_{f}, j_{f} ->> '$' AS x_{f}" for f in _FIELDS)
    return f"(SELECT *, {typed} FROM {rel})"


def _rels(run: _Run) -> list[str]:
    """One relation per input file (see ``_rel_jsonl``); a file DuckDB cannot read is declined here."""
    cap = current_limits().max_line_bytes
    out = []
    for fi, p in enumerate(run.paths):
        name = p.name.lower()
        if name.endswith(".parquet"):
            out.append(_rel_parquet(run.con, fi, p))
        elif name.endswith(".csv"):
            out.append(_rel_csv(run, fi, p, cap))
        else:
            out.append(_rel_jsonl(run, fi, p, cap))
    return out


def _guarded(run: _Run, fi: int, sql: str) -> list[tuple[Any, ...]]:
    try:
        return run.sql(sql)
    except Exception as exc:
        raise Decline(f"{run.paths[fi].name}: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}") from None


def _ev_query(rel: str) -> str:
    """Every line or row of one file, normalized as the gateway normalizer reads it (``ok_a``: exactly)."""
    n_nested = " + ".join(f"COALESCE(y_{lv} = 'OBJECT', false)::INT" for lv in _NESTED)
    str_ok = " AND ".join(_str_ok(f) for f in _STR)
    cnt_ok = " AND ".join(_cnt_ok(f) for f in _COUNT)
    top_tags = ", ".join("COALESCE(" + ", ".join(_tag_value("top", k) for k in keys) + f") AS tt_{tag}"
                         for tag, keys in _TOP_TAGS.items())
    top_ok = " AND ".join(_tag_ok("top", k) for k in DEFAULT_TAG_ALIASES)
    money_first = "COALESCE(" + ", ".join(
        f"CASE WHEN {_jt(f)} <> 'NULL' THEN {_q(f)} END" for f in _MONEY) + ")"
    money_text = "CASE " + " ".join(
        f"WHEN {_jt(f)} <> 'NULL' THEN (CASE {_jt(f)} WHEN 'DOUBLE' THEN r_{f} "
        f"WHEN 'UBIGINT' THEN {_tx(f)} WHEN 'VARCHAR' THEN {_tx(f)} END)" for f in _MONEY) + " END"
    nested = ", ".join(f"CASE WHEN y_{m} = 'OBJECT' THEN j_{m} END AS n_{m}" for m in _NESTED)
    select = f"""
        SELECT file, line, blank, ok1, kh, kh2, file * (1::BIGINT << 40) + line AS gpos,
               {_first(('provider',))} AS provider,
               {_first(('model_requested', 'model'))} AS requested,
               {_first(('model_actual', 'model_billed', 'model'))} AS actual,
               {_cv('input_tokens')} AS raw_in,
               CASE WHEN {_cv('cached_input_tokens')} > 0 THEN {_cv('cached_input_tokens')}
                    ELSE {_cv('cache_read_input_tokens')} END AS m_cached,
               CASE WHEN {_cv('cache_write_tokens')} > 0 THEN {_cv('cache_write_tokens')}
                    ELSE {_cv('cache_creation_input_tokens')} END AS m_cw,
               {_cv('cache_write_1h_tokens')} AS m_cw1h, {_cv('output_tokens')} AS m_out,
               {_cv('reasoning_tokens')} AS m_reason, {_cv('web_search_requests')} AS m_web,
               GREATEST(CASE WHEN {_cv('attempt')} > 0 THEN {_cv('attempt')} ELSE {_cv('retry_count')} + 1 END, 1)
                   AS attempt,
               {_first(('request_id', 'id'))} AS request_id, {_first(('trace_id',))} AS trace_id,
               {_first(('span_id',))} AS span_id,
               {_first(('parent_id', 'parent_span_id', 'parent_request_id'))} AS parent_id,
               {_first(('retry_of',))} AS retry_of, {_first(('fallback_from',))} AS fallback_from,
               {_first(('outcome', 'status'))} AS status,
               {_first(('service_tier',))} AS service_tier, {_first(('region',))} AS region,
               {top_tags}, {nested},
               {money_first} AS est_key, {money_text} AS est_text,
               {_jt('timestamp')} AS ts_type, {_tx('timestamp')} AS ts_text,
               COALESCE(nb IN (-1, 1 + {n_nested}) AND {str_ok} AND {cnt_ok} AND {top_ok}
                        AND {_jt('input_tokens')} <> 'NULL' AND {_jt('output_tokens')} <> 'NULL', false) AS ok_a"""
    return f"""(
        SELECT * EXCLUDE (est_text, ts_text, tsp), {_ts_expr()} AS ts_us, {_est_expr('est_text')} AS est_units
        FROM (SELECT *, regexp_extract(ts_text, {_q(_TS)}, ['y', 'mo', 'd', 'h', 'mi', 's', 'f', 'o']) AS tsp
              FROM ({select} FROM {_typed(rel)})))"""


def _keysets(run: _Run, rows: Sequence[tuple[Any, ...]]) -> _Tags:
    """Which shapes (key lists) are flat gateway events: one probe row of each, asked to the Python reader."""
    if len(rows) > 2000:
        raise Decline(f"{len(rows):,} different key sets: too many shapes for the fast engine")
    wanted: dict[int, list[int]] = {}
    for _kh, _kh2, at in rows:
        fi, line = divmod(int(at), 1 << 40)
        wanted.setdefault(fi, []).append(line)
    payloads: dict[int, Any] = {}
    for fi, lines in wanted.items():
        for item in _read_rows(run, fi, lines):
            if isinstance(item, Raw) and item.source is not None and item.source.line is not None:
                payloads[(fi << 40) + item.source.line] = item.payload
    tags = _Tags()
    ok = []
    for kh, kh2, at in rows:
        probe = payloads.get(int(at))
        if isinstance(probe, dict) and _classify(probe, tags):
            ok.append((kh, kh2))
    run.con.execute("CREATE TABLE ks (kh UBIGINT, kh2 UBIGINT)")
    if ok:
        run.con.executemany("INSERT INTO ks VALUES (?, ?)", [list(r) for r in ok])
    return tags


def _c_query(run: _Run, providers: Sequence[str]) -> str:
    """Stage 2: every row, with ``ok2`` where each field the SQL reads was read exactly (shapes checked later)."""
    prov_rows = [(p, canonical_provider(p), canonical_provider(p) in _CACHED_INCLUDED) for p in providers if p]
    run.con.execute("CREATE TABLE prov (raw VARCHAR, canon VARCHAR, included BOOLEAN)")
    if prov_rows:
        run.con.executemany("INSERT INTO prov VALUES (?, ?, ?)", prov_rows)
    return """(
            SELECT ev.* EXCLUDE (raw_in, est_key, ts_type, status, ok_a),
                   CASE WHEN p.included THEN raw_in - m_cached ELSE raw_in END AS m_in,
                   p.canon AS canon,
                   CASE WHEN status IS NULL THEN 'ok'
                        WHEN lower(status) IN ('ok', 'success', 'succeeded', 'completed', '200') THEN 'ok'
                        WHEN lower(status) IN ('cancelled', 'canceled', 'aborted') THEN 'cancelled' ELSE 'error' END
                       AS outcome,
                   COALESCE(requested, actual) AS model,
                   CASE WHEN actual IS NOT NULL AND actual <> COALESCE(requested, actual) THEN actual END
                       AS model_billed,
                   COALESCE(actual, requested) AS billed,
                   COALESCE(ok1 AND p.raw IS NOT NULL AND ok_a AND provider IS NOT NULL
                            AND COALESCE(requested, actual) IS NOT NULL
                            AND (NOT p.included OR m_cached <= raw_in) AND m_reason <= m_out
                            AND (status IS NULL OR regexp_full_match(status, '[ -~]*'))
                            AND (ts_type IS NULL OR ts_type = 'NULL' OR ts_us IS NOT NULL)
                            AND (est_key IS NULL OR est_units IS NOT NULL), false) AS ok2
            FROM EV ev LEFT JOIN prov p ON p.raw = ev.provider
        )"""


def _tag_exprs(tags: _Tags) -> tuple[dict[str, str], str, str]:
    """The owner tag columns (``t0``...) as expressions over the top-level and nested tag values, and the
    check that every nested tag of a row was read (for rows whose shape the probes saw)."""
    all_tags = sorted({*_TOP_TAGS, *tags.sources, *OWNER_DIMENSIONS})
    tag_cols = {tag: f"t{i}" for i, tag in enumerate(all_tags)}
    exprs: list[str] = []
    oks: list[str] = []
    for tag in all_tags:
        # Nested tag maps win over top-level aliases (labels over metadata over tags), as in owner_tags().
        nested = [(lv, k) for lv, k in tags.sources.get(tag, ()) if lv != "top"]
        nested.sort(key=lambda s: -_NESTED.index(s[0]))
        parts = [_tag_value(f"n_{lv}", k) for lv, k in nested]
        if tag in _TOP_TAGS:
            parts.append(f"tt_{tag}")
        exprs.append(f"{'COALESCE(' + ', '.join(parts) + ')' if parts else 'NULL::VARCHAR'} AS {tag_cols[tag]}")
    for level in _NESTED:
        keys = sorted({k for ss in tags.sources.values() for lv, k in ss if lv == level})
        oks.extend(_tag_ok(f"n_{level}", k) for k in keys)
        # Every key of a nested map becomes a tag: a key not seen in the probes would be missed.
        oks.append(f"(n_{level} IS NULL OR len(json_keys(n_{level})) = len(list_filter(json_keys(n_{level}), "
                   f"lambda x: x IN ({', '.join(_q(k) for k in keys) or 'NULL'}))))")
    return tag_cols, ", ".join(exprs), " AND ".join(oks) or "true"


def _rate_keys(run: _Run, rels: Sequence[str]) -> list[tuple[Any, ...]]:
    """Pass 1: every raw (provider, billed model, tier, region) in the input (a superset of the calls' keys)."""
    keys: set[tuple[Any, ...]] = set()
    billed = "COALESCE(NULLIF(model_actual, ''), NULLIF(model_billed, ''), NULLIF(model, ''), NULLIF(model_requested, ''))"
    for fi, (p, rel) in enumerate(zip(run.paths, rels, strict=True)):
        name = p.name.lower()
        if name.endswith((".csv", ".parquet")):
            sql = f"""SELECT DISTINCT {_first(('provider',))}, COALESCE({_first(('model_actual', 'model_billed', 'model'))},
                          {_first(('model_requested', 'model'))}), {_first(('service_tier',))}, {_first(('region',))}
                      FROM {_typed(rel)} WHERE ok1"""
        else:
            cols = ", ".join(f"'{c}': 'VARCHAR'" for c in ("provider", "model_actual", "model_billed", "model",
                                                             "model_requested", "service_tier", "region"))
            sql = f"""SELECT DISTINCT NULLIF(provider, ''), {billed}, NULLIF(service_tier, ''), NULLIF(region, '')
                      FROM read_json({_q(str(p))}, format='newline_delimited', ignore_errors=true,
                                     maximum_object_size=1048576,
                                     columns={{{cols}}})"""
        for row in _guarded(run, fi, sql):
            if row[0] is not None and row[1] is not None:
                keys.add(tuple(row))
    return sorted(keys, key=repr)


def _shape_filter(run: _Run) -> tuple[dict[str, str], str]:
    """After pass 2: which shapes are flat gateway events (a probe row each, asked to the Python reader); the
    table ``bad`` holds the priced rows of other shapes, or whose nested tags were not all read."""
    shapes = run.sql("SELECT kh, kh2, min(gpos) FROM pc WHERE ok1 GROUP BY ALL")
    tags = _keysets(run, shapes)
    tag_cols, exprs, nested_ok = _tag_exprs(tags)
    run.con.execute(f"""
        CREATE TABLE bad AS SELECT gpos FROM pc LEFT JOIN ks USING (kh, kh2)
        WHERE pc.fast AND (ks.kh IS NULL OR NOT COALESCE({nested_ok}, false))""")
    return tag_cols, exprs


@exact
def fast_audit(paths: Sequence[Path], *, registry: Registry, contract: OwnershipContract, by: tuple[str, ...],
               since: date | None, until: date | None, invoices: Sequence[Any], policy: Any, top: int,
               fx: Any) -> AuditReport:
    """The audit of ``paths`` (see :mod:`attribution._fast`); raises :class:`Decline` when it cannot be exact."""
    for p in paths:
        if not p.exists():
            raise Decline(f"no such file: {p}")
    with tempfile.TemporaryDirectory(prefix="attribution-fast-") as tmp:
        import duckdb

        con = _connect(tmp)
        try:
            return _audit(_Run(con, paths), registry=registry, contract=contract, by=by, since=since, until=until,
                          invoices=invoices, policy=policy, top=top, fx=fx)
        except duckdb.Error as exc:   # out of memory or disk: the Python engine gives the same report
            raise Decline(f"DuckDB: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}") from None
        finally:
            con.close()


def _audit(run: _Run, *, registry: Registry, contract: OwnershipContract, by: tuple[str, ...], since: date | None,
           until: date | None, invoices: Sequence[Any], policy: Any, top: int, fx: Any) -> AuditReport:
    keys = _rate_keys(run, _rels(run))
    rates = _price(run, registry, since, until, keys)
    tag_cols, tag_exprs = _shape_filter(run)
    fallback = _fallback(run, registry, since, until)
    dup_count, dup_units, repeats_possible = _dedupe(run, tag_exprs)
    _trees(run, tag_cols)
    _repeats(run, repeats_possible)
    return _report(run, registry=registry, contract=contract, by=by, since=since, until=until, invoices=invoices,
                   policy=policy, top=top, fx=fx, tag_cols=tag_cols, rates=rates, fallback=fallback,
                   dup_count=dup_count, dup_units=dup_units)


def _ts_expr() -> str:
    """UTC microseconds of the event's timestamp as :func:`attribution.normalize._common.timestamp` reads it."""
    day = "TRY_CAST(tsp.y || '-' || tsp.mo || '-' || tsp.d AS DATE)"
    off = "replace(tsp.o, ':', '')"
    return f"""(CASE
        WHEN ts_type = 'UBIGINT' THEN (CASE
            WHEN TRY_CAST(ts_text AS HUGEINT) > 100000000000 AND TRY_CAST(ts_text AS HUGEINT) < 100000000000000
                THEN CAST(ts_text AS BIGINT) * 1000
            WHEN TRY_CAST(ts_text AS HUGEINT) < 32503680000 THEN CAST(ts_text AS BIGINT) * 1000000 END)
        WHEN ts_type = 'VARCHAR' AND tsp.y <> '' AND tsp.y::INT BETWEEN 1000 AND 9000 AND tsp.h::INT <= 23
             AND tsp.mi::INT <= 59 AND COALESCE(NULLIF(tsp.s, '')::INT, 0) <= 59 AND {day} IS NOT NULL
             AND strftime({day}, '%Y-%m-%d') = tsp.y || '-' || tsp.mo || '-' || tsp.d
             AND (tsp.o IN ('', 'Z', 'z') OR (substr({off}, 2, 2)::INT <= 23
                  AND COALESCE(NULLIF(substr({off}, 4, 2), '')::INT, 0) <= 59))
        THEN epoch_us(CAST({day} AS TIMESTAMP))
             + (tsp.h::BIGINT * 3600 + tsp.mi::BIGINT * 60 + COALESCE(NULLIF(tsp.s, '')::BIGINT, 0)) * 1000000
             + COALESCE(NULLIF(rpad(substr(tsp.f, 1, 6), 6, '0'), '000000')::BIGINT, 0)
             - (CASE WHEN tsp.o IN ('', 'Z', 'z') THEN 0 ELSE
                    (CASE WHEN substr(tsp.o, 1, 1) = '-' THEN -1 ELSE 1 END)
                    * (substr({off}, 2, 2)::BIGINT * 3600
                       + COALESCE(NULLIF(substr({off}, 4, 2), '')::BIGINT, 0) * 60) * 1000000 END)
        END)"""


def _est_expr(t: str) -> str:
    """A logged estimate in money units, rounded half to even at 10^-15 (:func:`round_to_units`)."""
    frac = f"split_part({t} || '.', '.', 2)"
    f15 = f"rpad(substr({frac}, 1, 15), 15, '0')"
    return f"""(CASE WHEN {t} IS NOT NULL AND regexp_full_match({t}, '[0-9]{{1,12}}(\\.[0-9]+)?') THEN
            split_part({t}, '.', 1)::HUGEINT * 1000000000000000 + {f15}::HUGEINT
            + (CASE WHEN substr({frac}, 16, 1) > '5' OR (substr({frac}, 16, 1) = '5'
                     AND (regexp_matches(substr({frac}, 17), '[1-9]') OR substr({f15}, 15, 1) IN ('1', '3', '5', '7', '9')))
                    THEN 1 ELSE 0 END)
        END)"""


class _Seg:
    __slots__ = ("rate", "vectors")

    def __init__(self, rate: Rate) -> None:
        self.rate = rate
        self.vectors = [rate.prices, *(p for _, p in rate.context)]


def _price(run: _Run, registry: Registry, since: date | None, until: date | None,
           keys: Sequence[tuple[Any, ...]]) -> dict[int, _Seg]:
    """The rate table ``rt`` (each raw (provider, model, tier, region) the registry resolves, every price
    period), then pass 2: ``pc``, every non-blank row, normalized and priced where it can be (``fast``)."""
    segs: dict[int, _Seg] = {}
    rows = []
    max_tiers = 0
    for kid, (prov, model, tier, region) in enumerate(keys):
        memo_key = (prov, model, tier, region)
        with contextlib.suppress(AttributionError):
            registry._rate_at(prov, model, tier, region, None)
        line = registry._memo.get(memo_key)
        if line is None:
            continue
        n = len(line.segments)
        for j, seg in enumerate(line.segments):
            if not isinstance(seg.built, Rate):
                continue
            if getattr(seg.built, "windows", ()):
                raise Decline(f"{seg.built.provider}/{seg.built.model} has time-of-day prices")
            sid = len(segs)
            segs[sid] = _Seg(seg.built)
            max_tiers = max(max_tiers, len(seg.built.context))
            start, end = _us(seg.start), _us(seg.end)
            rows.append((kid, prov, model, tier, region, sid, -(1 << 62) if start is None else start,
                         1 << 62 if end is None else end, j == n - 1,
                         seg.built))
    cols = ["kid INTEGER", "provider VARCHAR", "billed VARCHAR", "service_tier VARCHAR", "region VARCHAR",
            "sid INTEGER", "t0 BIGINT", "t1 BIGINT", "last BOOLEAN"]
    cols += [f"a{t} BIGINT" for t in range(1, max_tiers + 1)]
    cols += [f"p{t}_{col} HUGEINT" for t in range(max_tiers + 1) for _, _, col in _BILLED_COLS]
    run.con.execute(f"CREATE TABLE rt ({', '.join(cols)})")
    run.con.execute("ALTER TABLE rt ADD COLUMN tier_key VARCHAR; ALTER TABLE rt ADD COLUMN region_key VARCHAR")
    values = []
    for kid, prov, model, tier, region, sid, t0, t1, last, rate in rows:
        above = [a for a, _ in rate.context] + [None] * (max_tiers - len(rate.context))
        vectors = segs[sid].vectors + [None] * (max_tiers + 1 - len(segs[sid].vectors))
        prices = [None if v is None else v[i] for v in vectors for i, _, _ in _BILLED_COLS]
        values.append([kid, prov, model, tier, region, sid, t0, t1, last, *above, *prices])
    if values:
        run.con.executemany(f"INSERT INTO rt VALUES ({', '.join('?' * len(cols))}, NULL, NULL)", values)
    run.con.execute("UPDATE rt SET tier_key = COALESCE(service_tier, chr(0)), region_key = COALESCE(region, chr(0))")
    run.con.execute("CREATE TABLE rate_ids (sid INTEGER, model VARCHAR, tier VARCHAR)")
    if segs:
        run.con.executemany("INSERT INTO rate_ids VALUES (?, ?, ?)",
                            [(sid, seg.rate.model, seg.rate.service_tier) for sid, seg in segs.items()])
    tier_case = "0" if not max_tiers else (
        "CASE " + " ".join(f"WHEN r.a{t} IS NOT NULL AND prompt > r.a{t} THEN {t}" for t in range(max_tiers, 0, -1))
        + " ELSE 0 END")
    price_of = {col: "CASE tier " + " ".join(f"WHEN {t} THEN p{t}_{col}" for t in range(max_tiers + 1)) + " END"
                for _, _, col in _BILLED_COLS}
    units = " + ".join(f"{col} * ({price_of[col]})" for _, _, col in _BILLED_COLS)
    unpriced = " OR ".join(f"({col} > 0 AND ({price_of[col]}) < 0)" for _, _, col in _BILLED_COLS)
    price_cols = ", ".join(f"r.p{t}_{col}" for t in range(max_tiers + 1) for _, _, col in _BILLED_COLS)
    day_ok = []
    if since is not None:
        day_ok.append(f"day >= DATE {_q(since.isoformat())}")
    if until is not None:
        day_ok.append(f"day <= DATE {_q(until.isoformat())}")
    kept = " AND ".join(day_ok) or "true"
    c_query = _c_query(run, sorted({k[0] for k in keys}))
    for fi, rel in enumerate(_rels(run)):
        query = f"""
        SELECT * EXCLUDE (units, ok2, blank, tier_key, region_key),
               COALESCE(ok2 AND sid IS NOT NULL AND NOT unpriced, false) AS fast,
               CASE WHEN unpriced THEN NULL ELSE units END AS units,
               (day IS NULL OR ({kept})) AS in_window
        FROM (
            SELECT x.* EXCLUDE ({price_cols.replace('r.', '')}), ({units}) AS units, ({unpriced}) AS unpriced FROM (
                SELECT c.*, r.sid, {tier_case.replace('prompt', 'c.prompt')} AS tier, {price_cols},
                       CAST(make_timestamp(c.ts_us) AS DATE) AS day
                FROM (SELECT c.*, (c.m_in + c.m_cached + c.m_cw + c.m_cw1h) AS prompt,
                             COALESCE(c.service_tier, chr(0)) AS tier_key, COALESCE(c.region, chr(0)) AS region_key
                      FROM {c_query.replace("EV", _ev_query(rel))} c WHERE NOT c.blank) c
                LEFT JOIN rt r ON c.ok2 AND r.provider = c.provider AND r.billed = c.billed
                     AND r.tier_key = c.tier_key AND r.region_key = c.region_key
                     AND ((c.ts_us IS NULL AND r.last) OR (c.ts_us >= r.t0 AND c.ts_us < r.t1))
            ) x
        )"""
        _guarded(run, fi, f"CREATE TABLE pc AS {query}" if fi == 0 else f"INSERT INTO pc BY NAME {query}")
        if fi in run.lines:
            run.con.execute(f"DROP TABLE lines_{fi}")
    currencies = {segs[s].rate.currency for (s,) in run.sql("SELECT DISTINCT sid FROM pc WHERE fast")}
    if len(currencies) > 1:
        raise Decline(f"calls priced in {len(currencies)} currencies")
    return segs


def _us(when: datetime | None) -> int | None:
    if when is None:
        return None
    delta = when - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


# -- the Python side: lines the SQL did not take ----------------------------------------------------


class _Fallback:
    def __init__(self) -> None:
        self.read = 0
        self.excluded = 0
        self.quarantined: Counter[str] = Counter()
        self.examples: dict[str, list[Quarantined]] = {}
        self.unpriced: list[Quarantined] = []


def _fallback(run: _Run, registry: Registry, since: date | None, until: date | None) -> _Fallback:
    """Read, normalize and price in Python every row the SQL did not take; decline if one is a valid call."""
    run.con.execute("""
        CREATE TABLE fb AS
        SELECT file, line FROM pc WHERE NOT fast OR gpos IN (SELECT gpos FROM bad) ORDER BY file, line""")
    out = _Fallback()
    rows = run.sql("SELECT file, list(line ORDER BY line) FROM fb GROUP BY file ORDER BY file")
    for fi, lines in rows:
        items = _read_rows(run, fi, lines)
        for p in price_many(normalize_many(items), registry):
            out.read += 1
            if isinstance(p, Quarantined):
                out.quarantined[p.code] += 1
                bucket = out.examples.setdefault(p.code, [])
                if len(bucket) < EXAMPLES_PER_REASON:
                    bucket.append(p)
                if p.stage == "price" and len(out.unpriced) < MAX_EVIDENCE:
                    out.unpriced.append(p)
                continue
            day = p.record.at.astimezone(UTC).date() if p.record.at is not None else None
            if day is not None and ((since and day < since) or (until and day > until)):
                out.excluded += 1
                continue
            where = p.record.source
            raise Decline(f"{where or 'a record'} is a call the fast engine does not read itself")
    return out


def _read_rows(run: _Run, fi: int, lines: Sequence[int]) -> Iterator[Raw | Quarantined]:
    """What the Python reader yields for these lines (or rows) of file ``fi``, in order."""
    path = run.paths[fi]
    file = run.files[fi]
    name = path.name.lower()
    wanted = sorted({int(n) for n in lines})
    if not wanted:
        return
    if name.endswith(".parquet"):
        from ..io import _parquet_rows

        yield from _parquet_rows(path, set(wanted))
        return
    if name.endswith(".csv"):
        from ..io import read_csv

        want = set(wanted)
        for item in read_csv(path):
            if item.source is not None and item.source.line in want:
                yield item
        return
    from ..io import _json_line

    lim = current_limits()
    texts = _line_texts(path, wanted)
    for n in wanted:
        got = _json_line(texts.get(n, b""), n, file, lim)
        if got is not None:
            yield got


def _line_texts(path: Path, wanted: Sequence[int]) -> dict[int, bytes]:
    """The bytes (newline included) of the 1-based lines ``wanted`` (sorted), in one streamed pass."""
    out: dict[int, bytes] = {}
    i = 0
    line = 1              # the number of the first line in ``data``
    carry = b""
    for chunk in _chunks(path):
        if i >= len(wanted):
            break
        data = carry + chunk
        complete = data.count(b"\n")
        if wanted[i] >= line + complete:   # no wanted line ends in this chunk
            cut = data.rfind(b"\n") + 1
            carry, line = data[cut:], line + complete
            continue
        pos = 0
        last = line + complete   # lines before ``last`` end in ``data``
        while i < len(wanted) and wanted[i] < last:
            while line < wanted[i]:
                pos = data.index(b"\n", pos) + 1
                line += 1
            end = data.index(b"\n", pos) + 1
            out[line] = data[pos:end]
            pos, line, i = end, line + 1, i + 1
        while True:   # skip to the end of the last complete line
            nl = data.find(b"\n", pos)
            if nl == -1:
                break
            pos, line = nl + 1, line + 1
        carry = data[pos:]
    if i < len(wanted) and carry and wanted[i] == line:
        out[line] = carry   # the last line, without a newline
    return out


# -- repeats, trees ---------------------------------------------------------------------------------


def _repeated(run: _Run, target: str, source: str, cols: str, where: str) -> None:
    """``target``: the values of ``cols`` that occur more than once in ``source``, with their count and first row.

    Grouped in slices of about a million rows (by a hash of ``cols``), so the hash table of each grouping
    stays well inside DuckDB's memory limit however long the input.
    """
    rows = run.sql(f"SELECT count(*) FROM {source} WHERE {where}")[0][0]
    parts = max(1, -(-int(rows) // 1_000_000))
    for part in range(parts):
        cut = f" AND hash({cols}) % {parts} = {part}" if parts > 1 else ""
        run.con.execute(f"""
            {'CREATE TABLE ' + target + ' AS' if part == 0 else 'INSERT INTO ' + target}
            SELECT {cols}, count(*) AS n, min(gpos) AS first FROM {source}
            WHERE {where}{cut} GROUP BY {cols} HAVING count(*) > 1""")


def _dedupe(run: _Run, tag_exprs: str) -> tuple[int, int, bool]:
    """Repeats of one provider call (:func:`~attribution.duplicate_key`); the view ``k0`` holds the calls kept.

    Nothing is copied: the 10M-row table ``pc`` is written once, and the stages after it are views over it
    plus small tables (repeated keys, duplicates, multi-call trees).
    """
    meters = "m_in, m_cached, m_cw, m_cw1h, m_out, m_web, m_reason"
    key = "canon, request_id, attempt, outcome"
    drop = ", ".join(["unpriced", "prompt", "fast", "in_window", "ok1", "kh", "kh2",
                      *(f"tt_{t}" for t in _TOP_TAGS), *(f"n_{m}" for m in _NESTED)])
    run.con.execute(f"CREATE VIEW kp AS SELECT * EXCLUDE ({drop}), {tag_exprs} FROM pc "
                    "WHERE fast AND in_window AND gpos NOT IN (SELECT gpos FROM bad)")
    # Attempt keys seen more than once: the only places where a repeat (or a reconciliation repeat) can be.
    _repeated(run, "multi", "kp", key, "request_id IS NOT NULL")
    run.con.execute(f"""
        CREATE TABLE dups AS
        SELECT gpos, units FROM (
            SELECT kp.gpos, kp.units, row_number() OVER (
                PARTITION BY kp.canon, kp.request_id, kp.attempt, kp.outcome, rs.model, rs.tier, {meters}
                ORDER BY kp.gpos) AS rn
            FROM kp SEMI JOIN multi m ON m.canon = kp.canon AND m.request_id = kp.request_id
                 AND m.attempt = kp.attempt AND m.outcome = kp.outcome
            JOIN rate_ids rs ON rs.sid = kp.sid
        ) WHERE rn > 1""")
    dup_count, dup_units = run.sql("SELECT count(*), COALESCE(sum(units), 0) FROM dups")[0]
    run.con.execute("CREATE VIEW k0 AS SELECT * FROM kp ANTI JOIN dups USING (gpos)")
    left = run.sql(f"""SELECT count(*) FROM (SELECT {key} FROM k0 SEMI JOIN multi USING ({key})
                       GROUP BY ALL HAVING count(*) > 1)""")
    return int(dup_count), int(dup_units), bool(left[0][0])


def _repeats(run: _Run, possible: bool) -> None:
    """Reconciliation repeats (:class:`~attribution._reconcile.RecentIds`): later copies of one attempt.

    Defines the view ``k``: the calls kept, owner fields inherited, with their ``repeat`` flag.
    """
    from .._reconcile import RecentIds

    run.con.execute("CREATE TABLE rep (gpos BIGINT)")
    if possible:
        distinct = run.sql("SELECT count(*) FROM (SELECT DISTINCT canon, request_id, attempt, outcome FROM k1 "
                           "WHERE request_id IS NOT NULL)")[0][0]
        if distinct > RecentIds().limit:
            raise Decline("copies of one attempt that disagree on what was billed, in a stream too long to be sure "
                          "which the Python engine's recent-id window would see")
        run.con.execute("""
            INSERT INTO rep SELECT gpos FROM (
                SELECT gpos, row_number() OVER (PARTITION BY canon, request_id, attempt, outcome
                                                ORDER BY tree_first, gpos) AS rn
                FROM k1 SEMI JOIN multi USING (canon, request_id, attempt, outcome)) WHERE rn > 1""")
    run.con.execute("CREATE VIEW k AS SELECT k1.*, rep.gpos IS NOT NULL AS repeat FROM k1 LEFT JOIN rep USING (gpos)")


def _trees(run: _Run, tag_cols: dict[str, str]) -> None:
    """Request trees: trace groups (links must stay inside one), root, owner inheritance: the view ``k1``."""
    run.con.execute("""
        CREATE TABLE links AS
        SELECT gpos, trace_id, parent_id AS link, true AS is_parent FROM k0 WHERE parent_id IS NOT NULL
        UNION ALL SELECT gpos, trace_id, retry_of, false FROM k0 WHERE retry_of IS NOT NULL""")
    run.con.execute("""
        CREATE TABLE ids AS
        SELECT id, arg_min(gpos, gpos) AS gpos, arg_min(trace_id, gpos) AS trace_id FROM (
            SELECT span_id AS id, gpos, trace_id FROM k0 WHERE span_id IS NOT NULL
            UNION ALL SELECT request_id, gpos, trace_id FROM k0 WHERE request_id IS NOT NULL
        ) SEMI JOIN (SELECT DISTINCT link AS id FROM links) USING (id) GROUP BY id""")
    cross = run.sql("""
        SELECT count(*) FROM links l JOIN ids i ON i.id = l.link
        WHERE l.trace_id IS NULL OR i.trace_id IS NULL OR i.trace_id <> l.trace_id""")[0][0]
    if cross:
        raise Decline(f"{cross:,} calls link to a call outside their trace (the Python engine resolves those trees)")
    _repeated(run, "groups", "k0", "trace_id", "trace_id IS NOT NULL")
    owner_cols = [tag_cols[f] for f in OWNER_DIMENSIONS]
    run.con.execute(f"CREATE TABLE gk AS SELECT gpos, trace_id, parent_id, {', '.join(owner_cols)} "
                    "FROM k0 SEMI JOIN groups USING (trace_id)")
    # Root: the first call whose parent is not in the tree (or the first call).
    run.con.execute("""
        CREATE TABLE roots AS
        SELECT g.trace_id, COALESCE(min(k.gpos) FILTER (
                   WHERE k.parent_id IS NULL OR k.parent_id NOT IN (SELECT id FROM ids)), g.first) AS root
        FROM groups g JOIN gk k USING (trace_id) GROUP BY g.trace_id, g.first""")
    spans = ", ".join(f"min(NULLIF({col}, '')) AS mn_{col}, max(NULLIF({col}, '')) AS mx_{col}" for col in owner_cols)
    owners = ", ".join(f"COALESCE(NULLIF(rt.{col}, ''), CASE WHEN a.mn_{col} = a.mx_{col} THEN a.mn_{col} END) "
                       f"AS o_{col}" for col in owner_cols)
    # In slices of about 100k trees: string min/max states do not spill, so one grouping of 400k trees
    # (10M calls, 4% retried) overran DuckDB's limit.
    parts = max(1, -(-int(run.sql("SELECT count(*) FROM gk")[0][0]) // 200_000))
    for part in range(parts):
        cut = f"WHERE hash(trace_id) % {parts} = {part}" if parts > 1 else ""
        run.con.execute(f"{'CREATE TABLE spans AS' if part == 0 else 'INSERT INTO spans'} "
                        f"SELECT trace_id, {spans} FROM gk {cut} GROUP BY trace_id")
    # Two tables at a time: DuckDB's plan for the four-way join held far more memory than its limit.
    run.con.execute(f"""
        CREATE TABLE rootrow AS
        SELECT r.trace_id, {', '.join(f'rt.{c}' for c in owner_cols)} FROM roots r JOIN gk rt ON rt.gpos = r.root""")
    run.con.execute("CREATE TABLE gspans AS SELECT * FROM groups g JOIN spans a USING (trace_id)")
    run.con.execute(f"""
        CREATE TABLE owners AS
        SELECT a.trace_id, a.first, {owners} FROM gspans a JOIN rootrow rt USING (trace_id)""")
    inherit = " OR ".join(f"(o.o_{col} IS NOT NULL AND COALESCE(k.{col}, '') = '')" for col in owner_cols)
    sets = ", ".join(f"CASE WHEN o.o_{col} IS NOT NULL AND COALESCE(k.{col}, '') = '' THEN o.o_{col} "
                     f"ELSE k.{col} END AS {col}" for col in owner_cols)
    run.con.execute(f"""
        CREATE VIEW k1 AS
        SELECT k.* EXCLUDE ({', '.join(owner_cols)}), {sets},
               COALESCE(o.first, k.gpos) AS tree_first, o.trace_id IS NOT NULL AS multi,
               COALESCE({inherit}, false) AS inherited
        FROM k0 k LEFT JOIN owners o ON o.trace_id = k.trace_id""")


# -- classes to aggregates ------------------------------------------------------------------------


def _report(run: _Run, *, registry: Registry, contract: OwnershipContract, by: tuple[str, ...], since: date | None,
            until: date | None, invoices: Sequence[Any], policy: Any, top: int, fx: Any, tag_cols: dict[str, str],
            rates: dict[int, _Seg], fallback: _Fallback, dup_count: int, dup_units: int) -> AuditReport:
    cols = sorted(set(tag_cols.values()), key=lambda c: int(c[1:]))
    names = {col: tag for tag, col in tag_cols.items()}
    emails = _emails(run, cols)
    email_expr = "false" if not emails else " OR ".join(
        f"k.{c} IN ({', '.join(_q(e) for e in emails)})" for c in cols)
    meter_cols = ["m_in", "m_cached", "m_cw", "m_cw1h", "m_out", "m_web", "m_reason"]
    sums = ", ".join(f"sum({m})::HUGEINT AS s_{m}, count(*) FILTER (WHERE {m} > 0) AS z_{m}, "
                     f"min(ord) FILTER (WHERE {m} > 0) AS f_{m}" for m in meter_cols)
    drift = ("est_units IS NOT NULL AND abs(est_units - units) > 1000000000 "
             "AND abs(est_units - units) * 100 > 5 * abs(units)")
    classes = run.sql(f"""
        SELECT sid, tier, day, provider, model, model_billed, billed, region, outcome,
               CASE WHEN fallback_from IS NOT NULL THEN 'fallback'
                    WHEN attempt > 1 OR retry_of IS NOT NULL THEN 'retry' ELSE 'first' END AS role,
               email, ts_us IS NULL AS no_ts, drift, inherited, repeat, {', '.join(cols)},
               count(*) AS n, sum(units)::HUGEINT AS u, COALESCE(sum(abs(est_units - units)) FILTER (WHERE drift), 0)
               AS du, min(ord) AS fo, {sums}
        FROM (SELECT k.*, ({email_expr}) AS email, COALESCE({drift}, false) AS drift,
                     tree_first::HUGEINT * (1::HUGEINT << 64) + gpos AS ord FROM k k)
        GROUP BY ALL ORDER BY fo""")
    agg = _Aggregates(contract, by, policy)
    charge_items: list[tuple[int, int, Any, Any]] = []
    base = 16 + len(cols)
    for row in classes:
        sid, tier, day, provider, model, model_billed, billed, region, outcome, role = row[:10]
        email, no_ts, drift_flag, inherited, repeat = row[10:15]
        values = row[15:15 + len(cols)]
        n, u, du, _fo = row[15 + len(cols):15 + len(cols) + 4]
        msums = row[base + 3:]
        seg = rates[sid]
        tags = {names[c]: v for c, v in zip(cols, values, strict=True) if v is not None}
        meters = {m: int(msums[3 * i]) for i, m in enumerate(meter_cols)}
        nonzero = {m: int(msums[3 * i + 1]) for i, m in enumerate(meter_cols)}
        first_of = {m: msums[3 * i + 2] for i, m in enumerate(meter_cols)}
        flags = [f for f, on in (("email_in_tags", email), ("no_timestamp", no_ts), ("estimate_drift", drift_flag),
                                 ("owner_inherited", inherited)) if on]
        cls = _Class(seg=seg, prices=seg.vectors[tier], day=day, provider=provider, model=model,
                     model_billed=model_billed, billed=billed, region=region, outcome=outcome, role=role,
                     flags=flags, repeat=bool(repeat), tags=tags, n=int(n), units=int(u), drift_units=int(du),
                     meters=meters, nonzero=nonzero)
        agg.add(cls)
        for i, _m, col in _BILLED_COLS:
            if nonzero[col]:
                charge_items.append((int(first_of[col]), i, col, cls))
    charge_items.sort(key=lambda x: (x[0], x[1]))
    for _, i, col, cls in charge_items:
        agg.add_meter(cls, i, col)
    cov = agg.cov
    cov.duplicates += dup_count
    cov.dup_units += dup_units
    trees_count = run.sql("SELECT count(*) FROM k WHERE NOT multi")[0][0] + run.sql(
        "SELECT count(*) FROM groups")[0][0]
    top_trees = _top_trees(run, registry, top)
    for code, count in fallback.quarantined.items():
        agg.quarantined[code] += count
    kept, excluded = run.sql("SELECT count(*), count(*) FILTER (WHERE NOT in_window) FROM pc "
                             "WHERE fast AND gpos NOT IN (SELECT gpos FROM bad)")[0]
    return assemble_report(
        dims=by, contract=contract, registry=registry, period=None, since=since, until=until, invoices=invoices,
        policy=policy, fx=fx, main=agg.rollup(agg.main, by), periods=None,
        alloc_rollup=agg.rollup(agg.alloc, agg.alloc_dims) if policy is not None else None,
        alloc_dims=agg.alloc_dims, owner_rollup=agg.rollup(agg.owner, by[:1]) if by else None, coverage=cov,
        charges=agg.charges, cells=agg.cells, spend=agg.spend, flags=agg.flags, quarantined=agg.quarantined,
        examples=fallback.examples, unpriced=fallback.unpriced, last_day=agg.last_day,
        records_read=int(kept) + fallback.read, trees=int(trees_count), top_trees=top_trees,
        excluded=int(excluded) + fallback.excluded, duplicates_unchecked=0, dedupe_limit=None, all_calls=None,
        engine="fast", models=agg.rollup(agg.models, MODEL_DIMENSIONS))


def _emails(run: _Run, cols: Sequence[str]) -> list[str]:
    """Tag values that are e-mail addresses (the normalizer's ``email_in_tags``), checked by Python's regex."""
    values = "[" + ", ".join(cols) + "]"
    rows = run.sql(f"SELECT DISTINCT v FROM (SELECT unnest(list_filter({values}, lambda x: contains(x, '@'))) AS v "
                   f"FROM k0 WHERE {' OR '.join(f'contains({c}, chr(64))' for c in cols) or 'false'})")
    return sorted(v for (v,) in rows if v is not None and _EMAIL_RE.fullmatch(v))


class _Class:
    """Calls that agree on everything an aggregate reads; ``n`` of them, with their sums."""

    __slots__ = ("billed", "day", "drift_units", "flags", "meters", "model", "model_billed", "n", "nonzero",
                 "outcome", "owned", "prices", "provider", "rate", "region", "repeat", "role", "seg", "tags", "units")

    def __init__(self, *, seg: _Seg, prices: Sequence[int], day: date | None, provider: str, model: str,
                 model_billed: str | None, billed: str, region: str | None, outcome: str, role: str,
                 flags: list[str], repeat: bool, tags: dict[str, str], n: int, units: int, drift_units: int,
                 meters: dict[str, int], nonzero: dict[str, int]) -> None:
        self.seg, self.prices, self.day, self.provider, self.model = seg, prices, day, provider, model
        self.model_billed, self.billed, self.region, self.outcome, self.role = model_billed, billed, region, outcome, role
        self.flags, self.repeat, self.tags, self.n, self.units = flags, repeat, tags, n, units
        self.drift_units, self.meters, self.nonzero = drift_units, meters, nonzero
        self.rate: Rate = seg.rate
        self.owned = False


class _Aggregates:
    """The Python engine's accumulators, fed one class (``n`` calls alike) at a time."""

    def __init__(self, contract: OwnershipContract, by: tuple[str, ...], policy: Any) -> None:
        self.contract = contract
        self.by = by
        self.cov = CoverageCounter(contract)
        from .. import _audit

        owner_tags = getattr(_audit, "OWNER_TAGS", None)
        self.charges = (ChargeCounter(by) if owner_tags is None
                        else ChargeCounter(by, tag_dims=(*by, *owner_tags, *contract.required)))
        self._listed: dict[tuple[int, date | None, str | None], Any] = {}
        self.cells: dict[Any, Any] = {}
        self.spend: Counter[tuple[str, date, str]] = Counter()
        self.flags: Counter[str] = Counter()
        self.quarantined: Counter[str] = Counter()
        self.last_day: date | None = None
        self.alloc_dims: tuple[str, ...] = ()
        if policy is not None:
            where_dims = [d for pool in policy.pools for d in (pool.where or {})]
            self.alloc_dims = tuple(dict.fromkeys((policy.owner, *where_dims)))
        self.main: dict[Any, list[int]] = {}
        self.alloc: dict[Any, list[int]] = {}
        self.owner: dict[Any, list[int]] = {}
        self.models: dict[Any, list[int]] = {}   # the report's model view (MODEL_DIMENSIONS)
        self.policy = policy
        self.currency: str | None = None
        self._names: dict[tuple[str, str], frozenset[str]] = {}

    def _ownership(self, cls: _Class) -> None:
        """:func:`attribution._ownership._apply_one` for a class: flags and stamped owner fields."""
        c = self.contract
        tags = cls.tags
        flags = cls.flags
        if c.missing(tags):
            flags.append("missing_owner")
        stamped = stamp_owner(tags, c.owner_map, flags)
        if stamped is not None:
            cls.tags = stamped
        cls.flags = list(dict.fromkeys(flags))

    def _key(self, cls: _Class, dim: str) -> str | None:
        if dim in _BUILTINS:
            return {
                "provider": cls.provider, "model": cls.model, "model_billed": cls.billed,
                "priced_model": cls.rate.model, "service_tier": cls.rate.service_tier, "region": cls.region,
                "outcome": cls.outcome, "card_version": cls.rate.card_version, "schema": "gateway", "role": cls.role,
            }[dim]
        if dim in ("day", "week", "month"):
            if cls.day is None:
                return None
            if dim == "week":
                year, week, _ = cls.day.isocalendar()
                return f"{year}-W{week:02d}"
            return cls.day.strftime("%Y-%m-%d" if dim == "day" else "%Y-%m")
        return cls.tags.get(dim)

    def _roll(self, acc: dict[Any, list[int]], dims: tuple[str, ...], cls: _Class) -> None:
        key = tuple(self._key(cls, d) for d in dims)
        a = acc.get(key)
        if a is None:
            a = acc[key] = [0] * _WIDTH
        a[0] += cls.n
        a[1] += cls.n
        a[2] += cls.units
        for i, m in enumerate(METERS):
            col = _METER_COLS.get(m)
            if col is not None:
                a[3 + i] += cls.meters[col]

    def rollup(self, acc: dict[Any, list[int]], dims: tuple[str, ...]) -> Rollup:
        return Rollup(dims, currency=self.currency if acc else None, _acc=acc)

    def add(self, cls: _Class) -> None:
        self._ownership(cls)
        rate, tags, n, units = cls.rate, cls.tags, cls.n, cls.units
        self.currency = rate.currency
        for f in cls.flags:
            self.flags[f] += n
        # CoverageCounter.add, n times.
        c, cov = self.contract, self.cov
        cov.currency = rate.currency
        cov.records += n
        cov.units += units
        if cls.role == "retry":
            cov.retry += units
        elif cls.role == "fallback":
            cov.fallback += units
        if "estimate_drift" in cls.flags:
            cov.drift += n
            cov.drift_units += cls.drift_units
        missing = c.missing(tags)
        unmapped = "unmapped_owner" in cls.flags or (
            c.owner_map is not None and bool(c.owner_map.entries) and c.owner_map.lookup(tags) is None)
        # OwnershipContract.is_owned, on the stamped tags (what add_cells reads).
        cls.owned = not missing and (c.owner_map is None or not c.owner_map.entries
                                     or c.owner_map.lookup(tags) is not None)
        if not missing and not unmapped:
            cov.owned += units
        else:
            cov.unowned_records += n
            if missing:
                reason = f"missing {', '.join(missing)}"
            else:
                keys = [f"{f}={tags[f]}" for f in (c.owner_map.fields if c.owner_map else ()) if tags.get(f)]
                reason = f"unmapped {', '.join(keys)}" if keys else "no owner map entry"
            cov.reasons[reason] += n
            cov.reason_units[reason] += units
            for dim in SOURCE_DIMENSIONS:
                value = tags.get(dim)
                if value:
                    cov.sources[dim, value] += n
                    cov.source_units[dim, value] += units
                    break
            else:
                key = ("model", f"{cls.provider}/{cls.billed}")
                cov.sources[key] += n
                cov.source_units[key] += units
        # budget_spend
        if cls.day is not None:
            name = tags.get("budget_line") or tags.get("cost_center")
            if name:
                self.spend[name, cls.day, rate.currency] += units
            if self.last_day is None or cls.day > self.last_day:
                self.last_day = cls.day
        self._roll(self.main, self.by, cls)
        if self.policy is not None:
            self._roll(self.alloc, self.alloc_dims, cls)
        if self.by:
            self._roll(self.owner, self.by[:1], cls)
        self._roll(self.models, MODEL_DIMENSIONS, cls)

    def add_meter(self, cls: _Class, i: int, col: str) -> None:
        """ChargeCounter.add and add_cells for one meter of a class, in the order the calls first used it."""
        rate = cls.rate
        meter = BILLED_METERS[i]
        qty, records, price = cls.meters[col], cls.nonzero[col], cls.prices[i]
        owner = tuple((d, cls.tags.get(d)) for d in self.charges.dims)
        key: tuple[Any, ...] = (cls.day, rate.provider, rate.model, meter, price, rate.service_tier, cls.region,
                                rate.card_version, owner)
        tag_dims = getattr(self.charges, "tag_dims", None)
        if tag_dims is not None:
            listed = self._list_prices(cls)
            list_price = listed[i] if listed is not None and listed[i] >= 0 and listed[i] != price else None
            key = (*key, list_price, tuple((d, v) for d in tag_dims if (v := cls.tags.get(d)) is not None))
        a = self.charges._acc.get(key)
        if a is None:
            a = self.charges._acc[key] = [0, 0, rate]
        a[0] += qty
        a[1] += records
        names = self._names.get((rate.model, cls.billed))
        if names is None:
            names = self._names[(rate.model, cls.billed)] = frozenset(
                {rate.model.lower(), cls.billed.lower(), "~" + _family(rate.model)})
        projects = frozenset(v for k in _PROJECT_TAGS if (v := cls.tags.get(k)))
        cell = _Cell(rate.provider, cls.day, rate.model, names, meter, projects, rate.service_tier, cls.region,
                     rate.currency, cls.owned)
        acc = self.cells.get(cell)
        if acc is None:
            acc = self.cells[cell] = _Acc(rate)
        acc.units += qty * price
        acc.tokens += qty
        acc.records += records
        if cls.repeat:
            acc.repeats += records


    def _list_prices(self, cls: _Class) -> Any:
        """``_audit._list_prices`` for a class: the same for every call of a day, or the input is declined."""
        from .. import _audit
        from .._records import UsageRecord
        from .._usage import Usage

        rate = cls.rate
        if not any(n.startswith("discount ") for n in rate.notes) and \
                rate.card_version in _audit._bundled_versions():
            return None
        memo = (id(rate), cls.day, cls.region)
        if memo in self._listed:
            return self._listed[memo]
        answers = []
        for at in ((None,) if cls.day is None else (
                datetime(cls.day.year, cls.day.month, cls.day.day, tzinfo=UTC),
                datetime(cls.day.year, cls.day.month, cls.day.day, 23, 59, 59, 999999, tzinfo=UTC))):
            rec = UsageRecord(provider=rate.provider, model=rate.model, usage=Usage(), at=at, region=cls.region)
            answers.append(_audit._list_prices(rec, rate))
            try:
                from .._registry import default_registry

                listed = default_registry()._rate_at(rate.provider, rate.model, rate.service_tier, cls.region, at)
                if listed.context or getattr(listed, "windows", ()):
                    raise Decline("list prices with context tiers or time windows")
            except AttributionError:
                pass
        if any(a != answers[0] for a in answers):
            raise Decline("a list price changes within a day")
        self._listed[memo] = answers[0]
        return answers[0]


def _top_trees(run: _Run, registry: Registry, top: int) -> tuple[RequestTree, ...]:
    """The ``top`` most expensive trees, rebuilt by the Python engine from their own lines."""
    if top <= 0:
        return ()
    singles = run.sql(f"SELECT units, gpos, NULL FROM k WHERE NOT multi ORDER BY units DESC, gpos LIMIT {int(top)}")
    groups = run.sql(f"SELECT sum(units) AS u, min(gpos) AS f, trace_id FROM k WHERE multi GROUP BY trace_id "
                     f"ORDER BY u DESC, f LIMIT {int(top)}")
    best = sorted([*singles, *groups], key=lambda r: (-int(r[0]), int(r[1])))[:top]
    members: dict[Any, list[int]] = {}
    for _units, first, trace in best:
        if trace is None:
            members[first] = [int(first)]
        else:
            members[first] = [int(g) for (g,) in run.sql("SELECT gpos FROM k WHERE trace_id = ? ORDER BY gpos",
                                                          [trace])]
    by_file: dict[int, list[int]] = {}
    for gs in members.values():
        for g in gs:
            by_file.setdefault(g >> 40, []).append(g & ((1 << 40) - 1))
    priced: dict[int, PricedRecord] = {}
    for fi, lines in sorted(by_file.items()):
        items = list(_read_rows(run, fi, lines))
        for item, p in zip(items, price_many(normalize_many(items), registry), strict=True):
            if not isinstance(p, PricedRecord) or item.source is None or item.source.line is None:
                raise Decline("a call of a top request tree did not price again in Python")
            priced[(fi << 40) + item.source.line] = p
    out = []
    for _units, first, _trace in best:
        [tree] = build_forest([priced[g] for g in members[first]])
        if tree.id == "call-0":
            rank = run.sql("SELECT count(*) FROM k WHERE gpos < ?", [int(first)])[0][0]
            tree = _with_id(tree, f"call-{rank}")
        out.append(tree)
    return tuple(out)


def _with_id(tree: RequestTree, tree_id: str) -> RequestTree:
    import attrs

    return attrs.evolve(tree, id=tree_id)


_ = (round_to_units, timedelta, SourceLocation)
