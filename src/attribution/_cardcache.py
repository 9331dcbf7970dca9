"""A disk cache of validated price cards, so a fresh process starts fast.

Parsing and validating the bundled cards costs tens of milliseconds, which
every short script and CLI call would pay (``import attribution`` plus the
first ``cost()`` has a 150 ms budget). After a card is validated once, its
typed form is pickled under the user's cache directory; later loads of the
*same text* unpickle it instead of parsing TOML and importing cattrs.

The key is a SHA-256 of the card's text together with the library version and
the size and modification time of the module that defines the card types, so a
changed card, an upgrade or an edited schema (in a source checkout) never
reads a stale entry. The cache is best effort: an unreadable, corrupt or
unwritable cache is ignored and the card is parsed as usual.

``ATTRIBUTION_CACHE_DIR`` chooses the directory (default
``$XDG_CACHE_HOME/attribution`` or ``~/.cache/attribution``); set it to ``off``
to disable the cache. Only this user's own cache directory is read (pickles
are code, so the directory is created private, mode 0700).
"""

from __future__ import annotations

import hashlib
import os
import pickle
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._cards import CardFile

__all__ = ["CACHE_ENV", "cache_dir", "get", "put"]

CACHE_ENV = "ATTRIBUTION_CACHE_DIR"
_FORMAT = b"attribution-card-cache/1"
_OFF = {"", "0", "off", "none", "false", "no"}


def cache_dir() -> Path | None:
    """Where validated cards are cached, or ``None`` when caching is off.

    >>> import os
    >>> os.environ["ATTRIBUTION_CACHE_DIR"] = "off"
    >>> cache_dir() is None
    True
    >>> del os.environ["ATTRIBUTION_CACHE_DIR"]
    """
    chosen = os.environ.get(CACHE_ENV)
    if chosen is not None:
        return None if chosen.strip().lower() in _OFF else Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "attribution"


@lru_cache(maxsize=1)
def _salt() -> bytes:
    from . import _cards, _version

    st = os.stat(_cards.__file__)
    return b"%s|%s|%d|%d|" % (_FORMAT, _version.__version__.encode(), st.st_size, st.st_mtime_ns)


def _entry(folder: Path, text: str) -> Path:
    digest = hashlib.sha256(_salt() + text.encode("utf-8")).hexdigest()
    return folder / f"card-{digest}.pickle"


def get(text: str) -> CardFile | None:
    """The cached, validated card for this exact card text, if there is one."""
    folder = cache_dir()
    if folder is None:
        return None
    try:
        with open(_entry(folder, text), "rb") as fh:
            card = pickle.load(fh)
    except Exception:   # any unreadable or corrupt entry is a cache miss, never an error
        return None
    from ._cards import CardFile

    return card if isinstance(card, CardFile) else None


def put(text: str, card: CardFile) -> None:
    """Cache a validated card (without its path and text); failures are ignored."""
    folder = cache_dir()
    if folder is None:
        return
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        target = _entry(folder, text)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(card, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, target)   # atomic: concurrent writers never leave half a file
    except OSError:
        return
