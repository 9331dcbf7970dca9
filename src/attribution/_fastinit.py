"""Faster ``__init__`` for the frozen attrs classes built once per record.

attrs' generated ``__init__`` for a frozen slotted class stores each field
through ``object.__setattr__`` and calls each validator in turn. Normalizing
a provider payload builds a :class:`~attribution.Usage` (11 validated meters)
and a :class:`~attribution.UsageRecord` (23 fields), and those two calls were
a third of the normalizer's time. :func:`speed_up_init` generates an
``__init__`` with the same signature, defaults, converters, validators and
``__attrs_post_init__``, that stores fields through their slot descriptors and
can check all fields in one inline expression first, running the attrs
validators (for their precise errors) only when that check fails.

Generated from the class's own ``attrs.fields``, as attrs generates its
own: names and defaults cannot drift from the field definitions.
tests/test_fastinit.py checks that both constructors agree, errors included.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

import attrs

T = TypeVar("T")


def speed_up_init(cls: type[T], checks: Mapping[str, str] | None = None,
                  namespace: Mapping[str, Any] | None = None) -> type[T]:
    """Replace ``cls.__init__`` (a frozen, slotted, keyword-only attrs class) with a faster one.

    ``checks`` maps a field name to an inline expression over ``{v}`` (the
    argument) that is true when the value is valid; the fields' own validators
    run only when one of these is false, so errors stay attrs' own. Fields
    with a validator but no check have the validator called directly.
    ``namespace`` supplies names the check expressions use.
    """
    ns: dict[str, Any] = dict(namespace or {})
    params: list[str] = []
    stores: list[str] = []
    direct: list[str] = []
    inline: list[str] = []
    validate: list[str] = []
    checks = dict(checks or {})
    for f in attrs.fields(cast(Any, cls)):
        if not f.init:
            continue
        if not f.kw_only or isinstance(f.default, attrs.Factory) or f.alias != f.name:  # type: ignore[arg-type]
            raise TypeError(f"{cls.__name__}.{f.name}: only keyword-only fields with plain defaults and "
                            f"their own names as arguments are supported")
        name = f.name
        if f.default is attrs.NOTHING:
            params.append(name)
        else:
            ns[f"_d_{name}"] = f.default
            params.append(f"{name}=_d_{name}")
        ns[f"_set_{name}"] = getattr(cls, name).__set__
        value = name
        if f.converter is not None:
            ns[f"_c_{name}"] = f.converter
            value = f"_c_{name}({name})"
        stores.append(f"    _set_{name}(self, {value})")
        if f.validator is not None:
            ns[f"_v_{name}"], ns[f"_a_{name}"] = f.validator, f
            call = f"_v_{name}(self, _a_{name}, self.{name})"
            if name in checks:
                inline.append(f"({checks.pop(name).format(v=name)})")
                validate.append(f"        {call}")
            else:
                direct.append(f"    {call}")
        elif name in checks:
            raise TypeError(f"{cls.__name__}.{name} has no validator to fall back on")
    if checks:
        raise TypeError(f"{cls.__name__} has no init fields named {', '.join(sorted(checks))}")
    # As attrs does: every field stored first, then validators in field order.
    src = [f"def __init__(self, *, {', '.join(params)}):", *stores, *direct]
    if inline:
        src.append(f"    if not ({' and '.join(inline)}):")
        src.extend(validate)
    if hasattr(cls, "__attrs_post_init__"):
        src.append("    self.__attrs_post_init__()")
    exec("\n".join(src), ns)  # generated from field names only, as attrs does
    init: Callable[..., None] = ns["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    cls._attrs_init = cls.__init__  # type: ignore[attr-defined]  # kept for the equivalence tests
    setattr(cls, "__init__", init)  # noqa: B010 - mypy forbids assigning a method directly
    return cls
