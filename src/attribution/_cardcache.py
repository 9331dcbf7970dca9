"""A disk cache of validated price cards, so a fresh process starts fast.

Parsing and validating the bundled cards costs tens of milliseconds, which
every short script and CLI call would pay (``import attribution`` plus the
first ``cost()`` has a 150 ms budget). After a card is validated once, its
typed form is written under the user's cache directory as *plain data* (JSON
of strings, integers, booleans, lists and objects; decimals and dates as their
exact text); later loads of the *same text* rebuild the card from it instead
of parsing TOML and importing cattrs.

Nothing in an entry can run code or change a price:

* **No code.** An entry is JSON, rebuilt field by field against the card
  schema (``_cards``): an unknown or missing field, a value of the wrong type,
  a non-finite decimal is a miss. Only cards that passed
  validation are ever written.
* **No edits.** Each entry carries an HMAC-SHA256 over its key and payload,
  made with a random 32-byte secret kept in the cache directory (``key``,
  mode 0600). An entry edited, truncated, renamed to another card's key or
  written by anyone who cannot read the secret fails the check and is a miss,
  so the card is parsed again and its prices stay those of the card text.
  (The secret guards against writers without it; the owner and mode checks
  below are what keep other users from writing there at all. A process of the
  same user can always rewrite its own cache, as it could the cards.)
* **No one else's files.** The directory is created mode 0700. It, the secret
  and every entry are opened without following symlinks (entries and the
  secret; the directory is checked through the descriptor it is used by) and
  refused when they are owned by another user or group/world-writable: the
  cache is then off for that call and cards are parsed as usual.
* **No writes through links.** Temporary files get unpredictable names and
  are created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` inside the checked
  directory, then renamed over the entry (a rename replaces a planted symlink,
  it never writes through it).

The key is a SHA-256 of the cache format, the library version, the size and
modification time of the module that defines the card types, and the card's
text, so a changed card, an upgrade, an edited schema (in a source checkout)
or a new cache format never reads a stale entry. The cache is best effort: an
unreadable, corrupt, refused or unwritable cache is ignored, never an error.

``ATTRIBUTION_CACHE_DIR`` chooses the directory (default
``$XDG_CACHE_HOME/attribution`` or ``~/.cache/attribution``); set it to ``off``
to disable the cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import stat
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._cards import CardFile

__all__ = ["CACHE_ENV", "FORMAT", "cache_dir", "entry_name", "get", "put"]

CACHE_ENV = "ATTRIBUTION_CACHE_DIR"
FORMAT = "attribution-card-cache/2"
_HEADER = FORMAT.encode() + b"\n"
_OFF = {"", "0", "off", "none", "false", "no"}
_KEY_FILE = "key"
_KEY_SIZE = 32
_MAX_ENTRY = 16 * 1024 * 1024       # far above any real card; a bigger file is not read
_UNSAFE_MODE = stat.S_IWGRP | stat.S_IWOTH
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
# The checks need descriptor-relative calls and owners; where the platform lacks them (Windows),
# the cache is simply off.
_SUPPORTED = (hasattr(os, "getuid") and bool(_NOFOLLOW)
              and {os.open, os.rename, os.link, os.unlink} <= os.supports_dir_fd)


def cache_dir() -> Path | None:
    """Where validated cards are cached, or ``None`` when caching is off.

    >>> import os
    >>> os.environ["ATTRIBUTION_CACHE_DIR"] = "off"
    >>> cache_dir() is None
    True
    >>> del os.environ["ATTRIBUTION_CACHE_DIR"]
    """
    if not _SUPPORTED:
        return None
    chosen = os.environ.get(CACHE_ENV)
    if chosen is not None:
        return None if chosen.strip().lower() in _OFF else Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "attribution"


@lru_cache(maxsize=1)
def _salt() -> bytes:
    from . import _cards, _version

    st = os.stat(_cards.__file__)
    return b"%s|%s|%d|%d|" % (FORMAT.encode(), _version.__version__.encode(), st.st_size, st.st_mtime_ns)


def _key(text: str) -> str:
    return hashlib.sha256(_salt() + text.encode("utf-8")).hexdigest()


def entry_name(text: str) -> str:
    """The file name of the entry for this card text (it covers format, library version and text)."""
    return f"card-{_key(text)}.json"


# --- the directory, the secret and the files, all checked --------------------


def _owned_and_private(st: os.stat_result) -> bool:
    return st.st_uid == os.getuid() and not st.st_mode & _UNSAFE_MODE


def _open_dir(folder: Path, *, create: bool) -> int | None:
    """A descriptor of the cache directory if it is ours and not writable by others."""
    if create:
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError:
            return None
    try:
        fd = os.open(folder, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
    except OSError:
        os.close(fd)
        return None
    if not stat.S_ISDIR(st.st_mode) or not _owned_and_private(st):
        os.close(fd)
        return None
    return fd


def _read_checked(name: str, dir_fd: int, limit: int) -> bytes | None:
    """A regular file of ours, not writable by others, not a symlink; else ``None``."""
    try:
        fd = os.open(name, os.O_RDONLY | _NOFOLLOW | _CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or not _owned_and_private(st) or st.st_size > limit:
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read(st.st_size + 1)   # a file grown since fstat fails its MAC
    except OSError:
        return None
    finally:
        os.close(fd)


def _temp_name() -> str:
    return f".tmp-{os.urandom(16).hex()}"   # unguessable, so nobody can plant a link there in advance


def _write_new(dir_fd: int, data: bytes) -> str | None:
    """Write ``data`` to a fresh, unpredictably named file (never an existing path); return its name."""
    name = _temp_name()
    try:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o600, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "wb", closefd=False) as fh:
            fh.write(data)
    except OSError:
        _unlink(name, dir_fd)
        return None
    finally:
        os.close(fd)
    return name


def _unlink(name: str, dir_fd: int) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name, dir_fd=dir_fd)


def _secret(dir_fd: int, *, create: bool) -> bytes | None:
    """The directory's HMAC secret, made on first write; a suspect key file turns the cache off.

    It is read again on every call (a few microseconds): a memo could outlive the directory.
    """
    found = _read_checked(_KEY_FILE, dir_fd, _KEY_SIZE)
    if found is None and create:
        tmp = _write_new(dir_fd, os.urandom(_KEY_SIZE))
        if tmp is None:
            return None
        with contextlib.suppress(OSError):   # link, not rename: a secret made first by another process is kept
            os.link(tmp, _KEY_FILE, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
        _unlink(tmp, dir_fd)
        found = _read_checked(_KEY_FILE, dir_fd, _KEY_SIZE)
    return found if found is not None and len(found) == _KEY_SIZE else None


def _mac(secret: bytes, key: str, payload: bytes) -> bytes:
    return hmac.new(secret, key.encode() + b"\n" + payload, hashlib.sha256).hexdigest().encode()


# --- plain data <-> cards ---------------------------------------------------
# The payload mirrors the card classes: an object per attrs instance holding the
# fields that differ from their defaults, decimals and dates as their exact text.
# Reading it back is strict: every value must have its field's type (a decimal
# from a finite number's text, an instant with its offset), unknown fields and
# missing required ones are misses. Plain JSON values cannot run code.

_SKIP = ("path", "text")    # a card's own file and text are the caller's, never cached


@cache
def _defaults(cls: type) -> tuple[tuple[str, Any], ...]:
    """Each cached field of an attrs class with its default (a factory's value, for comparing only)."""
    import attrs

    out = []
    for f in attrs.fields(cls):
        if f.name not in _SKIP:
            factory = getattr(f.default, "factory", None)   # attrs.Factory(dict) and the like
            out.append((f.name, factory() if callable(factory) else f.default))
    return tuple(out)


def _plain(value: Any) -> Any:
    """A card as JSON values (see above)."""
    cls: type = type(value)
    if hasattr(cls, "__attrs_attrs__"):
        out = {}
        for name, default in _defaults(cls):
            item = getattr(value, name)
            if item is default or (type(item) is type(default) and item == default):
                continue
            out[name] = _plain(item)
        return out
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


class _Bad(Exception):
    """The payload does not fit the card schema: a cache miss."""


def _str(value: Any) -> str:
    if type(value) is not str:
        raise _Bad
    return value


def _int(value: Any) -> int:
    if type(value) is not int:
        raise _Bad
    return value


def _bool(value: Any) -> bool:
    if type(value) is not bool:
        raise _Bad
    return value


def _decimal(value: Any) -> Decimal:
    if type(value) is not str:
        raise _Bad
    dec = Decimal(value)   # exact: from its text, never through a float
    if not dec.is_finite():
        raise _Bad
    return dec


def _date(value: Any) -> date:
    if type(value) is not str:
        raise _Bad
    return date.fromisoformat(value)


def _instant(value: Any) -> datetime:
    if type(value) is not str:
        raise _Bad
    moment = datetime.fromisoformat(value)
    if moment.utcoffset() is None:
        raise _Bad
    return moment


_SCALARS: dict[Any, Callable[[Any], Any]] = {
    str: _str, int: _int, bool: _bool, Decimal: _decimal, date: _date, datetime: _instant,
}


def _seq(item: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def seq(v: Any) -> tuple[Any, ...]:
        if type(v) is not list:
            raise _Bad
        return tuple([item(x) for x in v])
    return seq


def _table(val: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def table(v: Any) -> dict[str, Any]:
        if type(v) is not dict:
            raise _Bad
        return {_str(k): val(x) for k, x in v.items()}
    return table


def _decoder(tp: Any) -> Callable[[Any], Any]:
    """A strict decoder for one annotated field type of the card schema."""
    import types
    import typing

    import attrs

    if tp in _SCALARS:
        return _SCALARS[tp]
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType) and len(args) == 2 and type(None) in args:
        # Omitted when None (the default), so a present value is never None.
        return _decoder(next(a for a in args if a is not type(None)))
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _seq(_decoder(args[0]))
    if origin in (Mapping, dict) and len(args) == 2 and args[0] is str:
        return _table(_decoder(args[1]))
    if isinstance(tp, type) and attrs.has(tp):
        return _class_decoder(tp)
    raise TypeError(f"card cache: no decoder for {tp!r}")   # a schema change this module must learn


def _from_text(text: str, namespace: Mapping[str, Any]) -> Callable[[Any], Any] | None:
    """The decoder for a string annotation of the forms the schema uses, without ``eval``.

    ``typing.get_type_hints`` compiles every annotation, a few milliseconds of cold start;
    anything this does not recognise returns ``None`` and goes that slower way.
    """
    import builtins

    import attrs

    text = text.strip()
    if text.endswith("| None"):   # omitted when None (the default), so a present value is never None
        return _from_text(text[:-6], namespace)
    if text.startswith("tuple[") and text.endswith(", ...]"):
        item = _from_text(text[6:-6], namespace)
        return None if item is None else _seq(item)
    if text.startswith("Mapping[str, ") and text.endswith("]"):
        val = _from_text(text[13:-1], namespace)
        return None if val is None else _table(val)
    tp = namespace.get(text, getattr(builtins, text, None))
    if tp in _SCALARS:
        return _SCALARS[tp]
    if isinstance(tp, type) and attrs.has(tp):
        return _class_decoder(tp)
    return None


@cache
def _class_decoder(cls: type) -> Callable[[Any], Any]:
    import sys

    import attrs

    fields: dict[str, Callable[[Any], Any]] = {}
    for f in attrs.fields(cls):
        if f.name not in _SKIP:
            home = next(k for k in cls.__mro__ if f.name in getattr(k, "__annotations__", {}))
            # A string until cattrs (a parse in this process) resolves the class's annotations in place.
            dec = (_from_text(f.type, vars(sys.modules[home.__module__])) if isinstance(f.type, str)
                   else _decoder(f.type))
            if dec is None:
                import typing

                dec = _decoder(typing.get_type_hints(cls)[f.name])
            fields[f.name] = dec

    def build(v: Any) -> Any:
        if type(v) is not dict:
            raise _Bad
        return cls(**{name: fields[name](x) for name, x in v.items()})   # unknown: KeyError; missing: TypeError
    return build


def _card_from(payload: bytes) -> CardFile | None:
    from ._cards import CardFile

    try:
        card = _class_decoder(CardFile)(json.loads(payload))
    except Exception:   # whatever is wrong with an entry, it is a miss, never an error
        return None
    return card if isinstance(card, CardFile) else None


# --- the cache --------------------------------------------------------------


def get(text: str) -> CardFile | None:
    """The cached, validated card for this exact card text, if there is a sound entry."""
    folder = cache_dir()
    if folder is None:
        return None
    dir_fd = _open_dir(folder, create=False)
    if dir_fd is None:
        return None
    try:
        secret = _secret(dir_fd, create=False)
        if secret is None:
            return None
        key = _key(text)
        raw = _read_checked(f"card-{key}.json", dir_fd, _MAX_ENTRY)
    finally:
        os.close(dir_fd)
    if raw is None or not raw.startswith(_HEADER):
        return None
    mac, sep, payload = raw[len(_HEADER):].partition(b"\n")
    if not sep or not hmac.compare_digest(mac, _mac(secret, key, payload)):
        return None
    return _card_from(payload)


def put(text: str, card: CardFile) -> None:
    """Cache a validated card (without its path and text); failures are ignored."""
    folder = cache_dir()
    if folder is None:
        return
    dir_fd = _open_dir(folder, create=True)
    if dir_fd is None:
        return
    try:
        secret = _secret(dir_fd, create=True)
        if secret is None:
            return
        key = _key(text)
        payload = json.dumps(_plain(card), separators=(",", ":"), ensure_ascii=True).encode()
        tmp = _write_new(dir_fd, _HEADER + _mac(secret, key, payload) + b"\n" + payload)
        if tmp is None:
            return
        try:   # atomic: concurrent writers never leave half a file; a planted symlink is replaced, not followed
            os.replace(tmp, f"card-{key}.json", src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except OSError:
            _unlink(tmp, dir_fd)
    finally:
        os.close(dir_fd)
