"""File readers: every payload gets its file and line; bad rows are quarantined, never a traceback."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path

import pytest

import attribution as at
from attribution.io import read_csv, read_json, read_payloads
from attribution.normalize import Raw

OTLP = Path(__file__).parent / "fixtures" / "otel" / "openai_chat_cached.json"
GATEWAY_CSV = (
    "timestamp,request_id,team_id,provider,model_requested,input_tokens,output_tokens,cached_input_tokens,"
    "usd_estimate\n"
    "2026-06-08T12:15:44Z,req_8f7c,support_automation,openai,gpt-4.1-mini,18240,1642,0,0.0335\n"
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    if name.endswith(".gz"):
        p.write_bytes(gzip.compress(text.encode()))
    else:
        p.write_text(text, encoding="utf-8")
    return p


class TestCsv:
    def test_rows_are_payload_dicts_with_text_cells(self, tmp_path: Path) -> None:
        (item,) = read_csv(write(tmp_path, "events.csv", GATEWAY_CSV))
        assert isinstance(item, Raw)
        assert item.payload["input_tokens"] == "18240"
        assert item.payload["usd_estimate"] == "0.0335"
        assert item.source == at.SourceLocation(file=str(tmp_path / "events.csv"), line=2)

    def test_a_gateway_csv_normalizes_exactly(self, tmp_path: Path) -> None:
        (rec,) = at.normalize_many(read_payloads(write(tmp_path, "events.csv", GATEWAY_CSV)))
        assert isinstance(rec, at.UsageRecord)
        assert rec.usage == at.Usage(input=18240, output=1642)
        assert rec.estimate == Decimal("0.0335")
        assert rec.tags["team"] == "support_automation"

    def test_line_numbers_count_the_header_blank_lines_and_quoted_newlines(self, tmp_path: Path) -> None:
        text = 'a,b\n\n1,"two\nlines"\n3,4\n'
        out = list(read_csv(write(tmp_path, "x.csv", text)))
        assert [(x.payload, x.source.line) for x in out if isinstance(x, Raw) and x.source] == [
            ({"a": "1", "b": "two\nlines"}, 3), ({"a": "3", "b": "4"}, 5)]

    def test_empty_cells_are_absent_fields(self, tmp_path: Path) -> None:
        (item,) = read_csv(write(tmp_path, "x.csv", "a,b,c\n1,,3\n"))
        assert isinstance(item, Raw)
        assert item.payload == {"a": "1", "c": "3"}

    def test_rows_that_do_not_fit_the_header_are_quarantined_and_reading_goes_on(self, tmp_path: Path) -> None:
        out = list(read_csv(write(tmp_path, "x.csv", "a,b\n1,2,3\n4\n5,6\n")))
        assert [(type(x).__name__, x.source.line if x.source else None) for x in out] == [
            ("Quarantined", 2), ("Quarantined", 3), ("Raw", 4)]
        q = out[0]
        assert isinstance(q, at.Quarantined)
        assert q.code == "bad_csv"
        assert "3 cells" in q.message

    def test_parser_errors_are_quarantined(self, tmp_path: Path) -> None:
        out = list(read_csv(write(tmp_path, "x.csv", 'a,b\n1,"unterminated\n')))
        assert [(type(x).__name__, getattr(x, "code", None)) for x in out] == [("Quarantined", "bad_csv")]

    def test_a_malformed_quote_mid_file_is_quarantined_and_reading_goes_on(self, tmp_path: Path) -> None:
        out = list(read_csv(write(tmp_path, "x.csv", 'a,b\n1,"2"x\n3,4\n')))
        assert [type(x).__name__ for x in out] == ["Quarantined", "Raw"]
        assert out[0].source is not None
        assert out[0].source.line == 2

    def test_bad_header_is_one_error_for_the_file(self, tmp_path: Path) -> None:
        with pytest.raises(at.NormalizeError) as err:
            list(read_csv(write(tmp_path, "x.csv", "a,a\n1,2\n")))
        assert (err.value.code, err.value.line) == ("bad_csv", 1)

    def test_byte_order_mark_and_gzip(self, tmp_path: Path) -> None:
        (item,) = read_payloads(write(tmp_path, "x.csv.gz", "\ufeffa,b\n1,2\n"))
        assert isinstance(item, Raw)
        assert item.payload == {"a": "1", "b": "2"}

    def test_a_row_that_is_not_utf8_costs_only_itself(self, tmp_path: Path) -> None:
        p = tmp_path / "x.csv"
        p.write_bytes(b"a,b\n\xff\xfe,1\n3,4\n")
        bad, good = read_csv(p)
        assert isinstance(bad, at.Quarantined)
        assert bad.code == "bad_csv"
        assert bad.source is not None
        assert bad.source.line == 2
        assert "UTF-8" in bad.message
        assert isinstance(good, Raw)
        assert good.payload == {"a": "3", "b": "4"}

    def test_unreadable_file(self, tmp_path: Path) -> None:
        with pytest.raises(at.NormalizeError) as err:
            list(read_csv(tmp_path))
        assert err.value.code == "unreadable_file"


class TestJson:
    def test_otlp_json_file(self, tmp_path: Path) -> None:
        p = write(tmp_path, "export.otlp.json", OTLP.read_text())
        (rec,) = at.normalize_many(read_payloads(p))
        assert isinstance(rec, at.UsageRecord)
        assert rec.schema == "otel"
        assert rec.source == at.SourceLocation(file=str(p), line=1, path="resourceSpans[0].scopeSpans[0].spans[0]")

    def test_collector_file_exporter_json_lines_in_a_json_file(self, tmp_path: Path) -> None:
        """The collector's file exporter writes one ExportTraceServiceRequest per line, often as .json."""
        line = json.dumps(json.loads(OTLP.read_text()))
        p = write(tmp_path, "traces.json", f"{line}\n{line}\n{{broken\n")
        out = list(at.normalize_many(read_payloads(p)))
        assert [type(x).__name__ for x in out] == ["UsageRecord", "UsageRecord", "Quarantined"]
        assert [x.source.line for x in out if x.source] == [1, 2, 3]
        assert isinstance(out[2], at.Quarantined)
        assert out[2].code == "bad_json"

    def test_gzipped_json_lines_of_otlp(self, tmp_path: Path) -> None:
        line = json.dumps(json.loads(OTLP.read_text()))
        out = list(read_payloads(write(tmp_path, "traces.otlp.jsonl.gz", f"{line}\n\n{line}\n")))
        assert [x.source.line for x in out if x.source] == [1, 3]

    def test_not_json_at_all(self, tmp_path: Path) -> None:
        with pytest.raises(at.NormalizeError) as err:
            list(read_json(write(tmp_path, "x.json", "{oops")))
        assert err.value.code == "bad_json"

    def test_numbers_stay_exact(self, tmp_path: Path) -> None:
        (item,) = read_json(write(tmp_path, "x.json", '{"spend": 0.1}'))
        assert isinstance(item, Raw)
        assert item.payload["spend"] == Decimal("0.1")


def test_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(at.NormalizeError) as err:
        read_payloads(write(tmp_path, "x.xlsx", ""))
    assert err.value.code == "unknown_format"
    assert ".csv" in err.value.message


# -- ConsoleSpanExporter output: indented JSON documents one after another ----------------------------------

_SPANS = json.loads((Path(__file__).parent / "fixtures" / "otel" / "real" / "openai_v2.json").read_text())["console_spans"]


def _console_file(tmp_path: Path, docs: list[str]) -> Path:
    # The SDK's ConsoleSpanExporter writes span.to_json() (indent=4) followed by a line separator.
    path = tmp_path / "spans.json"
    path.write_text("".join(doc + "\n" for doc in docs), encoding="utf-8")
    return path


def test_console_exporter_output_is_read_document_by_document(tmp_path: Path) -> None:
    docs = [json.dumps(span, indent=4) for span in _SPANS]
    items = list(read_payloads(_console_file(tmp_path, docs)))
    assert [type(i) for i in items] == [Raw, Raw]
    assert [i.source.line for i in items if isinstance(i, Raw) and i.source] == [1, 1 + docs[0].count("\n") + 1]
    priced = [r for r in at.normalize_many(items) if isinstance(r, at.UsageRecord)]
    assert [(r.model, r.usage.input, r.usage.output) for r in priced] == [("gpt-4o-mini-2024-07-18", 1149, 353)]


def test_a_broken_document_after_good_ones_quarantines_the_rest_at_its_line(tmp_path: Path) -> None:
    docs = [json.dumps(span, indent=4) for span in _SPANS] + ['{\n  "name": "cut off', json.dumps(_SPANS[0])]
    items = list(read_payloads(_console_file(tmp_path, docs)))
    assert [type(i) for i in items] == [Raw, Raw, at.Quarantined]
    bad = items[2]
    assert isinstance(bad, at.Quarantined)
    assert bad.code == "bad_json"
    assert bad.source is not None
    assert bad.source.line == 1 + docs[0].count("\n") + 1 + docs[1].count("\n") + 1


def test_one_document_followed_by_garbage_is_still_bad_json(tmp_path: Path) -> None:
    path = _console_file(tmp_path, [json.dumps(_SPANS[0], indent=4), "not json"])
    with pytest.raises(at.NormalizeError, match="invalid JSON") as caught:
        list(read_payloads(path))
    assert caught.value.code == "bad_json"
