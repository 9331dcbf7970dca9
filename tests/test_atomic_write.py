"""``-o OUT`` is written atomically: a failed or killed run leaves the previous report untouched."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap

import pytest

import attribution.reports as reports
from attribution._atomic import atomic_output
from attribution.cli import main
from attribution.exceptions import MissingDependency

OLD = "previous report, complete\n"


@pytest.fixture
def usage_file(tmp_path):
    path = tmp_path / "usage.jsonl"
    path.write_text(json.dumps({"timestamp": "2025-06-01T12:00:00Z", "request_id": "r1", "provider": "openai",
                                "model_requested": "gpt-4.1", "input_tokens": 10_000, "output_tokens": 2_000,
                                "team_id": "search"}) + "\n", encoding="utf-8")
    return path


def leftovers(directory, keep):
    return sorted(p.name for p in directory.iterdir() if p.name not in keep)


def half_then_raise(error):
    def writer(report, fmt, out):
        out.write(b"PAR1 half" if fmt in reports.BINARY_FORMATS else "day,provider,half a ro")
        out.flush()
        raise error
    return writer


@pytest.mark.parametrize("fmt", ["csv", "json", "table", "html", "focus", "parquet"])
def test_a_writer_failing_half_way_leaves_the_old_report_and_no_temporary_file(tmp_path, usage_file, capsys,
                                                                               monkeypatch, fmt):
    target = tmp_path / f"out.{fmt}"
    target.write_text(OLD, encoding="utf-8")
    monkeypatch.setattr(reports, "write_report", half_then_raise(MissingDependency("parquet", "arrow", "pyarrow")))
    code = main(["audit", str(usage_file), "--format", fmt, "-o", str(target)])
    _, err = capsys.readouterr()
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert target.read_text(encoding="utf-8") == OLD
    assert leftovers(tmp_path, {target.name, usage_file.name}) == []


def test_an_interrupt_while_writing_leaves_the_old_report(tmp_path, usage_file, capsys, monkeypatch):
    target = tmp_path / "out.csv"
    target.write_text(OLD, encoding="utf-8")
    monkeypatch.setattr(reports, "write_report", half_then_raise(KeyboardInterrupt()))
    assert main(["audit", str(usage_file), "--format", "csv", "-o", str(target)]) == 130
    assert target.read_text(encoding="utf-8") == OLD
    assert leftovers(tmp_path, {target.name, usage_file.name}) == []


KILLER = textwrap.dedent("""
    import os, signal, sys, threading, time
    from pathlib import Path
    import attribution.reports as reports
    from attribution.cli import main

    target = Path(sys.argv[1])
    old = target.read_bytes()

    def watch():
        # SIGKILL this process the moment anything is on disk: a changed OUT, or a temporary file holding data.
        while True:
            if target.read_bytes() != old or any(p.stat().st_size > 0 for p in target.parent.glob(".out.csv.*")):
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(0.001)

    def slow_writer(report, fmt, out):
        for i in range(2000):
            out.write(f"row {i:06d}," + "x" * 1000 + "\\n")
            if i % 100 == 0:
                out.flush()
                time.sleep(0.01)

    reports.write_report = slow_writer
    threading.Thread(target=watch, daemon=True).start()
    sys.exit(main(["audit", sys.argv[2], "--format", "csv", "-o", str(target)]))
""")


def test_a_run_killed_mid_write_leaves_the_old_report_intact(tmp_path, usage_file):
    target = tmp_path / "out.csv"
    target.write_text(OLD, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-c", KILLER, str(target), str(usage_file)], capture_output=True,
                          timeout=120, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    assert target.read_text(encoding="utf-8") == OLD
    # SIGKILL cannot be cleaned up after: what it leaves is a hidden temporary, never the report.
    assert all(name.startswith(".out.csv.") and name.endswith(".tmp")
               for name in leftovers(tmp_path, {target.name, usage_file.name}))


def test_a_successful_run_replaces_the_report_and_keeps_its_mode(tmp_path, usage_file, capsys):
    target = tmp_path / "out.json"
    target.write_text(OLD, encoding="utf-8")
    target.chmod(0o640)
    assert main(["audit", str(usage_file), "--format", "json", "-o", str(target)]) == 0
    assert json.loads(target.read_text(encoding="utf-8"))["schema"] == "attribution.audit/1"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert leftovers(tmp_path, {target.name, usage_file.name}) == []


def test_a_new_report_gets_the_mode_open_would_give_it_not_0600(tmp_path, usage_file, capsys):
    target = tmp_path / "new.csv"
    mask = os.umask(0o022)
    try:
        assert main(["audit", str(usage_file), "--format", "csv", "-o", str(target)]) == 0
    finally:
        os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_writing_through_a_symlink_replaces_the_file_it_points_to(tmp_path):
    real = tmp_path / "real.csv"
    real.write_text(OLD, encoding="utf-8")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    with atomic_output(link) as fh:
        fh.write("new\n")
    assert link.is_symlink()
    assert real.read_text(encoding="utf-8") == "new\n"


def test_a_binary_report_is_written_whole(tmp_path, usage_file, capsys):
    pytest.importorskip("pyarrow")
    target = tmp_path / "out.parquet"
    target.write_bytes(b"old")
    assert main(["audit", str(usage_file), "--format", "parquet", "-o", str(target)]) == 0
    data = target.read_bytes()
    assert data[:4] == b"PAR1"
    assert data[-4:] == b"PAR1"


@pytest.mark.parametrize("where", ["missing/out.csv", "."])
def test_an_unwritable_target_is_a_one_line_error(tmp_path, usage_file, capsys, where):
    code = main(["audit", str(usage_file), "--format", "csv", "-o", str(tmp_path / where)])
    _, err = capsys.readouterr()
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "cannot write" in err
    assert "Traceback" not in err
