"""Plain-text helpers for terminals, with no imports: the command line's error path and tables use them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["safe", "table"]


def safe(text: object) -> str:
    """Printable text for a terminal: control characters (escape sequences) are shown escaped."""
    s = str(text)
    if s.isprintable():
        return s
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in s)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], right: Iterable[int] = ()) -> str:
    """A plain aligned text table; ``right`` lists the columns to right-align."""
    cells = [[safe(h) for h in headers], *([safe(c) for c in row] for row in rows)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    align = set(right)
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if i in align else c.ljust(w)
                               for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
