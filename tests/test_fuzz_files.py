"""File readers under hostile bytes: every reader, every cap, no untyped exception.

Two parts. Regression tests pin the defects of issue 17 (class 3): an
unterminated CSV quote swallowing later rows, deep JSON nesting raising
``RecursionError``, a corrupt ``.gz`` raising ``zlib.error``, an endless line
(or ``--pricecards /dev/zero``) exhausting memory, duplicate JSON keys read
last-wins. Then a byte-level fuzz battery, deterministic (fixed seeds): each
reader (JSONL, JSON, CSV, their ``.gz``, invoices with ``.gz``/``.zip``, price
cards, policies, owner maps) gets mutated files (random bytes, truncation,
BOM, CRLF, NUL, invalid UTF-8, long lines, deep nesting, duplicate keys,
stray quotes) and may only return data or raise an ``AttributionError``; fed
to the audit, every record read is accounted for.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import subprocess
import sys
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import attribution as at
from attribution._allocate import load_policy
from attribution._audit import run_audit
from attribution._cards import load_card
from attribution._ownership import load_owner_map
from attribution._registry import bundled_card_paths
from attribution.cli import main
from attribution.invoices import read_invoice
from attribution.io import MAX_DEPTH, Limits, limits, read_csv, read_json, read_jsonl, read_payloads
from attribution.normalize import Raw

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"
GATEWAY = ROOT / "examples" / "gateway-month.jsonl"
CSV_HEADER = "provider,model,input_tokens,output_tokens\n"


def kinds(items: Any) -> list[tuple[str, int | None, str]]:
    out = []
    for x in items:
        line = x.source.line if x.source else None
        out.append((type(x).__name__, line, x.code if isinstance(x, at.Quarantined) else ""))
    return out


# --- regressions: CSV ---------------------------------------------------------------------


class TestCsvRowsCostOnlyThemselves:
    def test_unterminated_quote_costs_its_own_line(self, tmp_path: Path) -> None:
        """4 rows in, 3 read + 1 quarantined with its line (the old reader read 2)."""
        p = tmp_path / "u.csv"
        p.write_text(CSV_HEADER + "openai,gpt-4o,1,2\nopenai,\"gpt-4o,1,2\nopenai,gpt-4o,3,4\nopenai,gpt-4o,5,6\n")
        out = list(read_csv(p))
        assert kinds(out) == [("Raw", 2, ""), ("Quarantined", 3, "bad_csv"), ("Raw", 4, ""), ("Raw", 5, "")]
        assert isinstance(out[1], at.Quarantined)
        assert "never closed" in out[1].message
        assert isinstance(out[3], Raw)
        assert out[3].payload["input_tokens"] == "5"

    def test_two_stray_quotes_do_not_merge_the_rows_between(self, tmp_path: Path) -> None:
        p = tmp_path / "u.csv"
        p.write_text(CSV_HEADER + "openai,\"gpt-4o,1,2\nopenai,gpt-4o,3,4\nopenai,\"gpt-4o,5,6\nopenai,gpt-4o,7,8\n")
        assert kinds(read_csv(p)) == [("Quarantined", 2, "bad_csv"), ("Raw", 3, ""),
                                      ("Quarantined", 4, "bad_csv"), ("Raw", 5, "")]

    def test_a_quoted_field_may_still_span_lines(self, tmp_path: Path) -> None:
        p = tmp_path / "m.csv"
        p.write_text(CSV_HEADER + 'openai,"gpt-4o\nmini",1,2\nopenai,gpt-4o,3,4\r\n')
        out = list(read_csv(p))
        assert kinds(out) == [("Raw", 2, ""), ("Raw", 4, "")]
        assert isinstance(out[0], Raw)
        assert out[0].payload["model"] == "gpt-4o\nmini"

    def test_a_quoted_field_may_not_outgrow_the_line_cap(self, tmp_path: Path) -> None:
        p = tmp_path / "m.csv"
        p.write_text(CSV_HEADER + 'openai,"gpt-4o\n' + "x" * 50 + "\n" + "y" * 50 + '",1,2\nopenai,gpt-4o,3,4\n')
        out = kinds(read_csv(p, max_line_bytes=64))
        assert out[0] == ("Quarantined", 2, "bad_csv")
        assert out[-1] == ("Raw", 5, "")

    def test_an_endless_row_is_quarantined_and_the_next_read(self, tmp_path: Path) -> None:
        p = tmp_path / "l.csv"
        p.write_bytes(CSV_HEADER.encode() + b"openai," + b"x" * 5000 + b",1,2\nopenai,gpt-4o,3,4\n")
        out = list(read_csv(p, max_line_bytes=1024))
        assert kinds(out) == [("Quarantined", 2, "bad_csv"), ("Raw", 3, "")]
        assert isinstance(out[0], at.Quarantined)
        assert "max_line_bytes" in out[0].message

    def test_a_corrupt_gzip_csv_is_a_typed_error(self, tmp_path: Path) -> None:
        p = tmp_path / "x.csv.gz"
        data = gzip.compress((CSV_HEADER + "".join(f"openai,gpt-4o,{i},2\n" for i in range(5000))).encode())
        p.write_bytes(data[: len(data) // 2])
        with pytest.raises(at.NormalizeError) as err:
            list(read_csv(p))
        assert err.value.code == "unreadable_file"
        assert "corrupt or truncated" in err.value.message


# --- regressions: JSON --------------------------------------------------------------------


class TestJsonCaps:
    def test_deep_nesting_is_a_quarantine_not_a_recursion_error(self, tmp_path: Path) -> None:
        p = tmp_path / "d.jsonl"
        p.write_text('{"a": 1}\n' + "[" * 100_000 + "]" * 100_000 + '\n{"b": 2}\n')
        assert kinds(read_jsonl(p)) == [("Raw", 1, ""), ("Quarantined", 2, "too_deep"), ("Raw", 3, "")]

    def test_nesting_past_the_cap_python_could_parse_is_refused_too(self, tmp_path: Path) -> None:
        p = tmp_path / "d.jsonl"
        p.write_text("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "\n" + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "\n")
        assert kinds(read_jsonl(p)) == [("Quarantined", 1, "too_deep"), ("Raw", 2, "")]
        assert kinds(read_jsonl(p, max_depth=MAX_DEPTH + 1)) == [("Raw", 1, ""), ("Raw", 2, "")]

    def test_brackets_inside_strings_do_not_count(self, tmp_path: Path) -> None:
        p = tmp_path / "s.jsonl"
        p.write_text(json.dumps({"prompt": "[[[[{{{{" * 100, "x": [[1]]}) + "\n")
        assert kinds(read_jsonl(p)) == [("Raw", 1, "")]

    def test_a_deep_json_document_is_a_typed_error(self, tmp_path: Path) -> None:
        p = tmp_path / "d.json"
        p.write_text("[" * 50_000 + "]" * 50_000)
        with pytest.raises(at.NormalizeError) as err:
            list(read_json(p))
        assert err.value.code == "bad_json"
        assert "max_depth" in err.value.message

    def test_duplicate_keys_are_quarantined_naming_the_key(self, tmp_path: Path) -> None:
        """Last-wins would silently pick one of two token counts."""
        p = tmp_path / "k.jsonl"
        p.write_text('{"usage": {"input_tokens": 10, "input_tokens": 10000}}\n{"a": {"b": 1}, "c": {"b": 2}}\n')
        out = list(read_jsonl(p))
        assert kinds(out) == [("Quarantined", 1, "duplicate_key"), ("Raw", 2, "")]
        assert isinstance(out[0], at.Quarantined)
        assert "'input_tokens'" in out[0].message

    def test_a_json_array_item_with_a_duplicate_key_costs_only_itself(self, tmp_path: Path) -> None:
        p = tmp_path / "k.json"
        p.write_text('[{"a": 1}, {"b": {"c": 1, "c": 2}}, {"d": 3}]')
        out = list(read_json(p))
        assert kinds(out) == [("Raw", 1, ""), ("Quarantined", 2, "duplicate_key"), ("Raw", 3, "")]

    def test_nan_and_infinity_are_not_numbers(self, tmp_path: Path) -> None:
        """``NaN`` would arrive as a float and poison a total."""
        p = tmp_path / "n.jsonl"
        p.write_text('{"spend": NaN}\n{"spend": -Infinity}\n')
        assert kinds(read_jsonl(p)) == [("Quarantined", 1, "bad_json"), ("Quarantined", 2, "bad_json")]

    def test_a_line_that_is_not_utf8_costs_only_itself(self, tmp_path: Path) -> None:
        p = tmp_path / "u.jsonl"
        p.write_bytes(b'\xef\xbb\xbf{"a": 1}\n{"a": "\xff"}\n{"a": 3}\n')
        assert kinds(read_jsonl(p)) == [("Raw", 1, ""), ("Quarantined", 2, "bad_json"), ("Raw", 3, "")]

    def test_ten_megabyte_line_over_a_one_megabyte_cap(self, tmp_path: Path) -> None:
        p = tmp_path / "l.jsonl"
        p.write_bytes(b'{"a": "' + b"x" * (10 << 20) + b'"}\n{"a": 1}\n')
        tracemalloc.start()
        try:
            out = list(read_jsonl(p, max_line_bytes=1 << 20))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert kinds(out) == [("Quarantined", 1, "line_too_long"), ("Raw", 2, "")]
        assert isinstance(out[0], at.Quarantined)
        assert "1 MiB" in out[0].message
        assert peak < 6 << 20  # the 10 MB line was never held whole

    def test_an_endless_line_without_a_newline(self, tmp_path: Path) -> None:
        p = tmp_path / "l.jsonl"
        p.write_bytes(b"[" + b"1," * 100_000)
        assert kinds(read_jsonl(p, max_line_bytes=4096)) == [("Quarantined", 1, "line_too_long")]

    def test_a_json_file_over_the_file_cap(self, tmp_path: Path) -> None:
        p = tmp_path / "big.json"
        p.write_text("[" + ",".join(['{"a": 1}'] * 1000) + "]")
        with pytest.raises(at.NormalizeError) as err:
            list(read_json(p, max_file_bytes=1000))
        assert err.value.code == "file_too_large"
        assert len(list(read_json(p))) == 1000


class TestGzip:
    def test_corrupt_deflate_data_is_a_typed_error(self, tmp_path: Path) -> None:
        """A flipped byte in the deflate stream raised ``zlib.error`` (not an ``AttributionError``)."""
        data = bytearray(gzip.compress(b"".join(b'{"n": %d}\n' % i for i in range(20_000)), mtime=0))
        data[100] ^= 0xFF
        p = tmp_path / "c.jsonl.gz"
        p.write_bytes(bytes(data))
        with pytest.raises(at.NormalizeError) as err:
            list(read_jsonl(p))
        assert err.value.code == "unreadable_file"
        assert "corrupt or truncated gzip" in err.value.message

    def test_a_bad_checksum_names_the_line_reached(self, tmp_path: Path) -> None:
        data = bytearray(gzip.compress(b"".join(b'{"n": %d}\n' % i for i in range(20_000)), mtime=0))
        data[len(data) // 2] ^= 0xFF
        p = tmp_path / "c.jsonl.gz"
        p.write_bytes(bytes(data))
        with pytest.raises(at.NormalizeError) as err:
            list(read_jsonl(p))
        assert err.value.code == "unreadable_file"
        assert err.value.line is not None
        assert err.value.line > 1
        assert "\n" not in str(err.value)

    def test_truncated_gzip(self, tmp_path: Path) -> None:
        data = gzip.compress(b'{"a": 1}\n' * 10_000, mtime=0)
        p = tmp_path / "t.jsonl.gz"
        p.write_bytes(data[: len(data) // 2])
        with pytest.raises(at.NormalizeError, match="corrupt or truncated gzip"):
            list(read_jsonl(p))

    def test_not_gzip_at_all(self, tmp_path: Path) -> None:
        p = tmp_path / "n.jsonl.gz"
        p.write_bytes(b'{"a": 1}\n')
        with pytest.raises(at.NormalizeError) as err:
            list(read_payloads(p))
        assert err.value.code == "unreadable_file"

    def test_a_corrupt_gzip_json_document(self, tmp_path: Path) -> None:
        data = bytearray(gzip.compress(json.dumps([{"n": i} for i in range(5000)]).encode(), mtime=0))
        data[len(data) // 2] ^= 0xFF
        p = tmp_path / "c.json.gz"
        p.write_bytes(bytes(data))
        with pytest.raises(at.NormalizeError) as err:
            list(read_json(p))
        assert err.value.code == "unreadable_file"


# --- regressions: invoices, cards, policies, owner maps -----------------------------------


class TestOtherLoaders:
    def test_invoice_csv_unterminated_quote_is_an_error_at_its_line(self, tmp_path: Path) -> None:
        """The old reader folded every later row into that row's last field and read on."""
        text = (FIXTURES / "invoices" / "plain_invoice.csv").read_text().splitlines()
        text[2] = text[2].rstrip(",") + ',"unfinished note'
        p = tmp_path / "inv.csv"
        p.write_text("\n".join(text) + "\n")
        with pytest.raises(at.InvoiceError) as err:
            read_invoice(p, format="csv")
        assert err.value.line == 3
        assert "never closed" in err.value.message

    def test_invoice_zip_with_corrupt_member(self, tmp_path: Path) -> None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("inv.csv", (FIXTURES / "invoices" / "plain_invoice.csv").read_text() * 50)
        data = bytearray(buf.getvalue())
        data[len(data) // 3] ^= 0xFF
        p = tmp_path / "inv.csv.zip"
        p.write_bytes(bytes(data))
        with pytest.raises(at.InvoiceError):
            read_invoice(p, format="csv")

    def test_invoice_json_duplicate_key_and_depth(self, tmp_path: Path) -> None:
        p = tmp_path / "costs.json"
        p.write_text('{"object": "page", "data": [], "data": []}')  # the old reader took the last
        with pytest.raises(at.InvoiceError, match="'data' appears twice"):
            read_invoice(p, format="openai")
        p.write_text("[" * 10_000 + "]" * 10_000)
        with pytest.raises(at.InvoiceError, match="max_depth"):
            read_invoice(p, format="openai")

    def test_invoice_jsonl_line_cap(self, tmp_path: Path) -> None:
        p = tmp_path / "pages.jsonl"
        p.write_bytes(b'{"data": "' + b"x" * 10_000 + b'"}\n')
        with pytest.raises(at.InvoiceError, match="max_line_bytes") as err:
            read_invoice(p, format="gcp", max_line_bytes=1000)
        assert err.value.line == 1

    def test_owner_map_csv_row_with_extra_cells(self, tmp_path: Path) -> None:
        """csv.DictReader dropped the extra cells silently."""
        p = tmp_path / "owners.csv"
        p.write_text("field,value,cost_center\nteam,search,CC-1,oops\n")
        with pytest.raises(at.OwnershipError) as err:
            load_owner_map(p)
        assert err.value.line == 2

    def test_owner_map_csv_unterminated_quote(self, tmp_path: Path) -> None:
        p = tmp_path / "owners.csv"
        p.write_text('field,value,cost_center\nteam,"search,CC-1\nteam,support,CC-2\n')
        with pytest.raises(at.OwnershipError) as err:
            load_owner_map(p)
        assert err.value.line == 2

    def test_card_deep_toml_nesting(self, tmp_path: Path) -> None:
        p = tmp_path / "deep.toml"
        p.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
        with pytest.raises(at.PriceCardError, match="nested too deeply"):
            load_card(p)

    def test_card_not_utf8_names_the_line(self, tmp_path: Path) -> None:
        p = tmp_path / "bad.toml"
        p.write_bytes(b'[card]\nprovider = "x"\nversion = "\xff"\n')
        with pytest.raises(at.PriceCardError) as err:
            load_card(p)
        assert err.value.line == 3

    def test_card_with_a_byte_order_mark_loads(self, tmp_path: Path) -> None:
        card = bundled_card_paths()[0]
        p = tmp_path / "bom.toml"
        p.write_bytes(b"\xef\xbb\xbf" + card.read_bytes())
        assert load_card(p).card.currency == load_card(card).card.currency

    @pytest.mark.parametrize("loader", [load_card, load_policy, load_owner_map])
    def test_dev_zero_stops_at_the_file_cap(self, loader: Callable[..., Any]) -> None:
        with pytest.raises(at.AttributionError, match="cap"):
            loader("/dev/zero", max_file_bytes=1 << 16)

    def test_policy_over_the_cap_set_by_limits(self, tmp_path: Path) -> None:
        p = tmp_path / "policy.toml"
        p.write_bytes((ROOT / "examples" / "policy.toml").read_bytes())
        assert load_policy(p).name
        with limits(max_file_bytes=100), pytest.raises(at.PolicyError, match="100 bytes cap"):
            load_policy(p)


# --- limits and the CLI -------------------------------------------------------------------


def test_limits_validation_and_nesting() -> None:
    with pytest.raises(ValueError, match="max_depth"):
        Limits(max_depth=0)
    with limits(max_depth=5) as outer:
        assert outer.max_depth == 5
        with limits(max_line_bytes=10) as inner:
            assert (inner.max_depth, inner.max_line_bytes) == (5, 10)
    assert Limits().max_depth == MAX_DEPTH


def test_cli_pricecards_dev_zero_exits_2_with_one_line(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    log.write_text(GATEWAY.read_text().splitlines()[0] + "\n")
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "attribution", "audit", str(log), "--pricecards", "/dev/zero"],
                          capture_output=True, text=True, timeout=60)
    assert time.monotonic() - start < 30
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "/dev/zero" in lines[0]
    assert "max_file_bytes" in lines[0]
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(("flag", "value"), [("--max-line-bytes", "0"), ("--max-line-bytes", "12Q"),
                                        ("--max-file-bytes", "-5"), ("--max-depth", "0")])
def test_cli_caps_are_validated_at_parse_time(flag: str, value: str, capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path) -> None:
    try:
        code: object = main(["audit", str(tmp_path / "x.jsonl"), flag, value])
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    assert flag in capsys.readouterr().err


def test_cli_max_line_bytes_quarantines_the_long_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = GATEWAY.read_text().splitlines()[:3]
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join([lines[0], lines[2], '{"pad": "' + "x" * 3000 + '"}']) + "\n")
    assert main(["audit", str(log), "--format", "json", "--max-line-bytes", "2KiB"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert "line_too_long" in json.dumps(report)


# --- the fuzz battery ---------------------------------------------------------------------

#: Cases per fuzz target; raise it for a longer hunt (``ATTRIBUTION_FUZZ_CASES=2000 pytest ...``).
CASES = int(os.environ.get("ATTRIBUTION_FUZZ_CASES", "60"))
_BAD_UTF8 = (b"\xff", b"\xfe\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf")


def _mutate(rng: random.Random, data: bytes, long_line: int) -> bytes:
    """One to three damages of the kinds hostile or broken files carry."""
    for _ in range(rng.randint(1, 3)):
        pos = rng.randint(0, len(data)) if data else 0
        op = rng.randrange(14)
        if op == 0:
            data = data[:pos]  # truncation
        elif op == 1 and data:
            b = bytearray(data)
            for _ in range(rng.randint(1, 8)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            data = bytes(b)
        elif op == 2:
            data = data[:pos] + rng.randbytes(rng.randint(1, 64)) + data[pos:]
        elif op == 3:
            data = b"\xef\xbb\xbf" + data if rng.random() < 0.5 else data[:pos] + b"\xef\xbb\xbf" + data[pos:]
        elif op == 4:
            data = data.replace(b"\n", b"\r\n") if rng.random() < 0.5 else data.replace(b"\n", b"\r")
        elif op == 5:
            data = data[:pos] + b"\x00" * rng.randint(1, 4) + data[pos:]
        elif op == 6:
            data = data[:pos] + rng.choice(_BAD_UTF8) + data[pos:]
        elif op == 7:
            data = data[:pos] + b"x" * (long_line + rng.randint(1, 100)) + data[pos:]
        elif op == 8:
            n = rng.choice((70, 500, 5000, 50_000))
            data = data[:pos] + b"[" * n + (b"]" * n if rng.random() < 0.5 else b"") + data[pos:]
        elif op == 9:
            i = data.find(b'": ', pos)
            if i > 0:
                j = data.rfind(b'"', 0, i)
                key = data[j:i + 1]
                data = data[:j] + key + b": 1, " + data[j:]  # the same key twice in one object
        elif op == 10:
            data = data[:pos] + b'"' + data[pos:]
        elif op == 11:
            data = rng.randbytes(rng.randint(0, 2000))
        elif op == 12:
            data = data[:pos] + b"\n" * rng.randint(1, 3) + data[pos:]
        else:
            n = rng.choice((70, 600))
            data = data[:pos] + b"a = " + b"[" * n + b"]" * n + b"\n" + data[pos:]
    return data


def _wrap(rng: random.Random, data: bytes, name: str) -> tuple[bytes, str]:
    """Sometimes gzip the bytes (and sometimes damage the gzip itself)."""
    if rng.random() < 0.3:
        packed = bytearray(gzip.compress(data, mtime=0))
        if rng.random() < 0.5 and len(packed) > 20:
            if rng.random() < 0.5:
                packed = packed[: rng.randint(0, len(packed))]
            else:
                packed[rng.randrange(len(packed))] ^= 1 << rng.randrange(8)
        return bytes(packed), name + ".gz"
    return data, name


def _seed_jsonl() -> bytes:
    return "".join(GATEWAY.read_text().splitlines(True)[:25]).encode()


_USAGE_SEEDS: dict[str, Callable[[], bytes]] = {
    "log.jsonl": _seed_jsonl,
    "spend.csv": lambda: (FIXTURES / "litellm" / "spend_logs_export.csv").read_bytes(),
    "trace.json": lambda: (FIXTURES / "otel" / "agent_trace_anthropic.json").read_bytes(),
    "batch.json": lambda: b"[" + b",".join(_seed_jsonl().splitlines()[:8]) + b"]",
}


@pytest.mark.parametrize("name", sorted(_USAGE_SEEDS))
def test_fuzz_usage_readers_and_audit(name: str, tmp_path: Path) -> None:
    """No untyped exception, and records in == priced + quarantined + duplicates (+ excluded)."""
    rng = random.Random(f"usage-{name}")
    seed = _USAGE_SEEDS[name]()
    untyped: list[str] = []
    for case in range(CASES):
        data, fname = _wrap(rng, _mutate(rng, seed, long_line=2048), name)
        p = tmp_path / f"{case}-{fname}"
        p.write_bytes(data)
        try:
            items = list(read_payloads(p, max_line_bytes=2048, max_depth=32))
        except at.AttributionError:
            continue
        except Exception as exc:  # the property under test
            untyped.append(f"case {case} ({fname}): {type(exc).__name__}: {exc}"[:300])
            continue
        assert all(isinstance(x, (Raw, at.Quarantined)) for x in items)
        try:
            report = run_audit(items)
        except Exception as exc:
            untyped.append(f"case {case} ({fname}) audit: {type(exc).__name__}: {exc}"[:300])
            continue
        assert report.records_read >= len(items)  # an OTLP payload can hold several calls
        assert report.records_read == (report.priced_records + report.quarantined_records
                                       + report.duplicates + report.excluded), f"case {case}"
    assert not untyped, "\n".join(untyped)


def _zip(data: bytes, member: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(member, data)
    return buf.getvalue()


_INVOICES = [("plain_invoice.csv", "csv"), ("cur2_bedrock.csv", "aws-cur"), ("azure_cost_details_ea.csv", "azure"),
             ("gcp_billing_export.jsonl", "gcp"), ("gcp_billing_export.csv", "gcp"),
             ("openai_costs_docs.json", "openai"), ("openai_costs_pages.jsonl", "openai"),
             ("anthropic_cost_report_docs.json", "anthropic")]


@pytest.mark.parametrize(("fixture", "fmt"), _INVOICES)
def test_fuzz_invoice_readers(fixture: str, fmt: str, tmp_path: Path) -> None:
    rng = random.Random(f"invoice-{fixture}")
    seed = (FIXTURES / "invoices" / fixture).read_bytes()
    untyped: list[str] = []
    for case in range(CASES * 2 // 3):
        data = _mutate(rng, seed, long_line=4096)
        name = fixture
        roll = rng.random()
        if roll < 0.2:
            data, name = _wrap(rng, data, name)
        elif roll < 0.35:
            packed = bytearray(_zip(data, fixture))
            if rng.random() < 0.5:
                packed[rng.randrange(len(packed))] ^= 0xFF
            data, name = bytes(packed), name + ".zip"
        p = tmp_path / f"{case}-{name}"
        p.write_bytes(data)
        for format_ in (fmt, None):
            try:
                lines = read_invoice(p, format=format_, max_line_bytes=4096, max_depth=32)
            except at.AttributionError:
                continue
            except Exception as exc:  # the property under test
                untyped.append(f"case {case} ({name}, {format_}): {type(exc).__name__}: {exc}"[:300])
                continue
            assert all(isinstance(line, at.InvoiceLine) for line in lines)
    assert not untyped, "\n".join(untyped)


def _owners_csv() -> bytes:
    return (b"field,value,cost_center,budget_line,owner,monthly_budget,currency\n"
            b"team,search,CC-1001,search-ai,Dana Chen,25.00,USD\n"
            b'team,support,CC-2002,support-ai,"Ortiz, Sam",24.00,USD\n')


_CONFIGS: list[tuple[str, Callable[[], bytes], Callable[[Path], Any]]] = [
    ("card.toml", lambda: bundled_card_paths()[0].read_bytes(), load_card),
    ("policy.toml", lambda: (ROOT / "examples" / "policy.toml").read_bytes(), load_policy),
    ("owners.toml", lambda: (ROOT / "examples" / "owners.toml").read_bytes(), load_owner_map),
    ("owners.csv", _owners_csv, load_owner_map),
]


@pytest.mark.parametrize(("name", "seed", "loader"), _CONFIGS, ids=[c[0] for c in _CONFIGS])
def test_fuzz_config_loaders(name: str, seed: Callable[[], bytes], loader: Callable[[Path], Any],
                             tmp_path: Path) -> None:
    rng = random.Random(f"config-{name}")
    original = seed()
    untyped: list[str] = []
    for case in range(CASES):
        p = tmp_path / f"{case}-{name}"
        p.write_bytes(_mutate(rng, original, long_line=4096))
        try:
            loader(p)
        except at.AttributionError as exc:
            if "\n" in str(exc).strip():
                untyped.append(f"case {case}: a message of several lines: {exc!s:.300}")
        except Exception as exc:  # the property under test
            untyped.append(f"case {case}: {type(exc).__name__}: {exc}"[:300])
    assert not untyped, "\n".join(untyped)


# --- loader messages name the field, the value and what was expected (issue 17, class 7) ---


class TestLoaderMessages:
    @pytest.mark.parametrize(("pattern", "replacement", "path", "expected"), [
        (r"input\s*=\s*[\d.]+", 'input = "abc"', "models[0].prices[0].input", "expected a decimal number, got str 'abc'"),
        (r"read_on\s*=\s*\S+", 'read_on = "yesterday"', "read_on", "expected a date like 2026-06-07, got str 'yesterday'"),
        (r"\bfrom\s*=\s*\S+", "from = 12", "models[0].prices[0].from", "an offset datetime like 2026-06-07T12:00:00Z, got int 12"),
    ])
    def test_card_values(self, tmp_path: Path, pattern: str, replacement: str, path: str, expected: str) -> None:
        """These read "invalid value for type, expected decimal.Decimal | None" / "expected datetime"."""
        import re

        p = tmp_path / "card.toml"
        p.write_text(re.sub(pattern, replacement, bundled_card_paths()[0].read_text(), count=1))
        with pytest.raises(at.PriceCardError) as err:
            load_card(p)
        assert err.value.path is not None
        assert err.value.path.endswith(path)
        assert expected in err.value.message

    def test_owner_map_budget(self, tmp_path: Path) -> None:
        """This read "unknown error ([<class 'decimal.ConversionSyntax'>])"."""
        p = tmp_path / "owners.toml"
        p.write_text((ROOT / "examples" / "owners.toml").read_text().replace("monthly_budget = 25.00",
                                                                         'monthly_budget = "lots"', 1))
        with pytest.raises(at.OwnershipError) as err:
            load_owner_map(p)
        assert err.value.path == "owners[0].monthly_budget"
        assert err.value.message == "expected a decimal amount, got str 'lots'"

    def test_owner_map_csv_budget(self, tmp_path: Path) -> None:
        p = tmp_path / "owners.csv"
        p.write_text("field,value,monthly_budget\nteam,a,lots\n")
        with pytest.raises(at.OwnershipError) as err:
            load_owner_map(p)
        assert (err.value.line, err.value.path) == (2, "monthly_budget")
        assert "'lots'" in err.value.message
