"""The command line's progress bar: records read, rate and time left, on a terminal only.

The audit streams its input once; on a terminal the user sees how far it got.
With the ``rich`` extra (or ``tqdm``, when installed) the bar is theirs;
otherwise one plain line on stderr is rewritten in place, at most a few
times a second. Nothing is drawn when stderr is not a terminal (a pipe, CI,
a log file) or with ``--quiet``, so redirected output never carries it. The
time left needs the number of records to expect: it is counted from the
lines of plain ``.jsonl``/``.ndjson``/``.csv`` inputs (a fast byte scan), and
is left out (rate only) when an input is compressed, a ``.json`` document or
standard input. Rates are for display only; no money passes through here.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

__all__ = ["Progress", "count_records"]

#: Inputs whose records are their lines (a CSV has one header line more).
_LINE_FORMATS = {".jsonl": 0, ".ndjson": 0, ".csv": 1}
_SCAN = 1 << 20


def count_records(paths: Sequence[str]) -> int | None:
    """The records to expect in ``paths`` (non-blank lines are not told apart), or ``None`` when unknown.

    >>> count_records(["-"]) is None
    True
    """
    total = 0
    for raw in paths:
        p = Path(raw)
        header = _LINE_FORMATS.get(p.suffix.lower())
        if raw == "-" or header is None:
            return None
        try:
            with p.open("rb") as fh:
                lines = 0
                last = b"\n"
                while chunk := fh.read(_SCAN):
                    lines += chunk.count(b"\n")
                    last = chunk[-1:]
                lines += last != b"\n"     # a last line without its newline
        except OSError:
            return None
        total += max(lines - header, 0)
    return total


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Progress:
    """Counts the items an iterator yields and draws a bar on ``stream`` when ``enabled``.

    ``backend`` is ``"auto"`` (rich, then tqdm, then plain text), or one of
    ``"rich"``, ``"tqdm"``, ``"plain"``.

    >>> p = Progress(enabled=False)
    >>> list(p.wrap(range(3))), p.count
    ([0, 1, 2], 3)
    """

    def __init__(self, *, enabled: bool, total: int | None = None, stream: IO[str] | None = None,
                 backend: str = "auto", unit: str = "records", interval: float = 0.2) -> None:
        self.enabled = enabled
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.backend = backend
        self.unit = unit
        self.interval = interval
        self.count = 0

    def wrap(self, items: Iterable[Any]) -> Iterator[Any]:
        """Yield ``items`` unchanged, counting them and updating the bar."""
        if not self.enabled:
            for item in items:
                self.count += 1
                yield item
            return
        backend = self._backend()
        if backend == "rich":
            yield from self._rich(items)
        elif backend == "tqdm":
            yield from self._tqdm(items)
        else:
            yield from self._plain(items)

    def _backend(self) -> str:
        if self.backend != "auto":
            return self.backend
        for name, module in (("rich", "rich.progress"), ("tqdm", "tqdm")):
            try:
                __import__(module)
            except ImportError:
                continue
            return name
        return "plain"

    def line(self, elapsed: float) -> str:
        """The plain-text bar for ``count`` items after ``elapsed`` seconds, cut to the terminal's width.

        >>> p = Progress(enabled=True, total=200)
        >>> p.count = 50
        >>> p.line(2.0)
        'attribution: [####............]  25%  50/200 records  25 records/s  ETA 0:06'
        """
        rate = self.count / elapsed if elapsed > 0 else 0.0
        speed = f"{rate:,.0f} {self.unit}/s"
        if self.total:
            done = min(self.count / self.total, 1.0)
            bar = "#" * int(done * 16)
            left = _clock((self.total - self.count) / rate) if rate > 0 and self.count < self.total else "0:00"
            text = (f"attribution: [{bar:.<16}] {done * 100:3.0f}%  {self.count:,}/{self.total:,} {self.unit}  "
                    f"{speed}  ETA {left}")
        else:
            text = f"attribution: {self.count:,} {self.unit} read  {speed}  {_clock(elapsed)} elapsed"
        width = shutil.get_terminal_size((80, 24)).columns
        return text[: max(width - 1, 20)]

    def _plain(self, items: Iterable[Any]) -> Iterator[Any]:
        start = last = time.monotonic()
        drawn = False
        for item in items:
            self.count += 1
            if self.count % 256 == 0:
                now = time.monotonic()
                if now - last >= self.interval:
                    last = now
                    self.stream.write("\r\x1b[2K" + self.line(now - start))
                    self.stream.flush()
                    drawn = True
            yield item
        if drawn:
            self.stream.write("\r\x1b[2K" + self.line(time.monotonic() - start) + "\n")
            self.stream.flush()

    def _rich(self, items: Iterable[Any]) -> Iterator[Any]:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            ProgressColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress
        from rich.text import Text

        unit = self.unit

        class Rate(ProgressColumn):
            def render(self, task: Any) -> Text:
                speed = task.finished_speed or task.speed
                return Text(f"{speed:,.0f} {unit}/s" if speed else f"- {unit}/s")

        columns: list[Any] = [TextColumn("attribution"), BarColumn(), TaskProgressColumn(), MofNCompleteColumn(),
                              Rate(), TimeRemainingColumn() if self.total else TimeElapsedColumn()]
        console = Console(file=self.stream)
        with RichProgress(*columns, console=console, transient=False) as bar:
            task = bar.add_task("audit", total=self.total)
            pending = 0
            for item in items:
                self.count += 1
                pending += 1
                if pending >= 256:
                    bar.advance(task, pending)
                    pending = 0
                yield item
            bar.advance(task, pending)

    def _tqdm(self, items: Iterable[Any]) -> Iterator[Any]:
        from tqdm import tqdm  # type: ignore[import-untyped,import-not-found,unused-ignore]

        with tqdm(total=self.total, unit=f" {self.unit}", unit_scale=False, file=self.stream, desc="attribution",
                  mininterval=self.interval, dynamic_ncols=True) as bar:
            pending = 0
            for item in items:
                self.count += 1
                pending += 1
                if pending >= 256:
                    bar.update(pending)
                    pending = 0
                yield item
            bar.update(pending)
