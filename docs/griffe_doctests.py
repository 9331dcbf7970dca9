"""Griffe extension for the API reference: docstring examples render as Python sessions.

The package's docstrings carry runnable ``>>>`` examples in their text (pytest
runs them as doctests). Griffe treats ``>>>`` as code only inside an
``Examples:`` section; anywhere else Markdown would read ``>>>`` as nested
block quotes and ``[...]`` as links. This extension fences every doctest
block outside a code fence as ``pycon`` before the docstring is parsed.
Loaded by ``mkdocs.yml`` (mkdocstrings' python handler ``extensions``); it
is not shipped in the package.
"""

from __future__ import annotations

import re
from typing import Any

try:
    from griffe import Extension
except ImportError:  # the docs extra is not installed; pytest still imports this file for its doctests
    Extension = object  # type: ignore[assignment,misc]

_PROMPT = re.compile(r"^(\s*)>>>( |$)")
_FENCE = re.compile(r"^\s*(```|~~~)")


def fence_doctests(text: str) -> str:
    """Wrap each ``>>>`` block (prompts, continuations and output up to a blank line) in a pycon fence.

    >>> fence_doctests("Adds.\\n\\n>>> 1 + 1\\n2\\n\\nMore text.").splitlines()
    ['Adds.', '', '```pycon', '>>> 1 + 1', '2', '```', '', 'More text.']
    >>> fence_doctests("```pycon\\n>>> 1\\n1\\n```") == "```pycon\\n>>> 1\\n1\\n```"
    True
    """
    out: list[str] = []
    lines = text.splitlines()
    in_fence = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if _FENCE.match(line):
            in_fence = not in_fence
        prompt = None if in_fence else _PROMPT.match(line)
        if prompt is None:
            out.append(line)
            i += 1
            continue
        indent = prompt.group(1)
        out.append(f"{indent}```pycon")
        while i < len(lines) and lines[i].strip():
            out.append(lines[i])
            i += 1
        out.append(f"{indent}```")
    return "\n".join(out)


class DoctestBlocks(Extension):  # type: ignore[misc]
    """Fence doctest blocks in every docstring griffe loads."""

    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
        docstring = getattr(obj, "docstring", None)
        if docstring is not None and ">>>" in docstring.value:
            docstring.value = fence_doctests(docstring.value)
