"""Every error the library raises, in one place.

All of them derive from :class:`AttributionError`, and each also derives from
the builtin that fits (``ValueError`` for bad data, ``LookupError`` for things
not found), so callers can catch broadly or narrowly. Each carries structured
fields (file, line, key path, offending value) and prints as one line, which is
what the CLI shows a user instead of a traceback.

Batch operations (normalizing a file, pricing a stream) do not raise for a bad
record: they yield a :class:`~attribution.Quarantined` diagnostic instead. These
exceptions are for misuse and for single-record calls.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AttributionError",
    "CurrencyMismatch",
    "FxTableError",
    "InvalidTimestamp",
    "InvalidUsage",
    "InvoiceError",
    "MissingDependency",
    "NormalizeError",
    "OwnershipError",
    "PolicyError",
    "PriceCardError",
    "PriceNotInForce",
    "UnknownModel",
    "UnknownProvider",
    "UnknownServiceTier",
    "UnpricedMeter",
]


def _where(file: str | None, line: int | None, path: str | None) -> str:
    parts = []
    if file:
        parts.append(f"{file}:{line}" if line else file)
    elif line:
        parts.append(f"line {line}")
    if path:
        parts.append(path)
    return ": ".join(parts)


def _rebuild(cls: type[AttributionError], args: tuple[object, ...], state: dict[str, object]) -> AttributionError:
    err = cls.__new__(cls, *args)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


class AttributionError(Exception):
    """Base class of every error raised by ``attribution``.

    Errors pickle with all their fields (the subclasses' ``__init__`` signatures
    differ from their ``args``), so they survive a trip from a worker process or
    a Dask task back to the caller.
    """

    def __reduce__(self) -> tuple[object, ...]:
        return _rebuild, (type(self), self.args, dict(self.__dict__))


class _LocatedError(AttributionError, ValueError):
    """An error in data read from somewhere: ``file``, ``line`` and a key ``path`` (all optional).

    Prints as ``file:line: path: message``, the one line the CLI shows.
    """

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 path: str | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.path = path
        where = _where(file, line, path)
        super().__init__(f"{where}: {message}" if where else message)


class InvalidUsage(AttributionError, ValueError):
    """A token or call count is negative, not an integer, or absurdly large."""

    def __init__(self, meter: str, value: object, reason: str) -> None:
        self.meter = meter
        self.value = value
        self.reason = reason
        super().__init__(f"usage meter {meter!r}: {reason} (got {value!r})")


class PriceCardError(_LocatedError):
    """A price card (bundled or the user's) is malformed or inconsistent.

    ``file`` is the card's path, ``path`` the key path inside it, such as
    ``models[3].prices[0].input``.
    """

    def __init__(self, message: str, *, file: str | None = None, path: str | None = None,
                 line: int | None = None) -> None:
        super().__init__(message, file=file, line=line, path=path)
        #: Further problems found in the same card, after this one.
        self.others: tuple[PriceCardError, ...] = ()


class PolicyError(_LocatedError):
    """An allocation policy or an ``allocate`` call is invalid.

    ``file`` is the policy's path (when it came from a file) and ``path`` the
    key path inside it, such as ``pools[2].shares``; for a direct
    :func:`~attribution.allocate` call, ``path`` names the argument
    (``amount``, ``weights['search']``).
    """

    def __init__(self, message: str, *, file: str | None = None, path: str | None = None,
                 line: int | None = None) -> None:
        super().__init__(message, file=file, line=line, path=path)
        #: Further problems found in the same policy, after this one.
        self.others: tuple[PolicyError, ...] = ()


class UnknownModel(AttributionError, LookupError):
    """No price card knows this model for this provider.

    An unknown model is never priced at $0: this error is raised (or the record
    quarantined) instead. ``suggestions`` holds the closest known ids.
    """

    def __init__(self, provider: str, model: str, suggestions: Sequence[str] = ()) -> None:
        self.provider = provider
        self.model = model
        self.suggestions = tuple(suggestions)
        hint = f"; closest known: {', '.join(self.suggestions)}" if self.suggestions else ""
        super().__init__(f"unknown model {model!r} for provider {provider!r}{hint}")


class UnknownProvider(UnknownModel):
    """No price card exists for this provider at all."""

    def __init__(self, provider: str, model: str, known: Sequence[str]) -> None:
        self.provider = provider
        self.model = model
        self.suggestions = tuple(known)
        AttributionError.__init__(
            self, f"unknown provider {provider!r} (model {model!r}); known providers: {', '.join(known)}")


class PriceNotInForce(UnknownModel):
    """The model is known but no price was in force at the requested instant."""

    def __init__(self, provider: str, model: str, at: str, known_from: str | None) -> None:
        self.at = at
        self.known_from = known_from
        AttributionError.__init__(
            self,
            f"no price for {provider}/{model} in force at {at}"
            + (f" (first effective {known_from})" if known_from else ""),
        )
        self.provider = provider
        self.model = model
        self.suggestions = ()


class UnknownServiceTier(AttributionError, LookupError):
    """The request names a service tier the model's card does not price."""

    def __init__(self, provider: str, model: str, tier: str, known: Sequence[str]) -> None:
        self.provider = provider
        self.model = model
        self.tier = tier
        self.known = tuple(known)
        super().__init__(
            f"{provider}/{model} has no price for service tier {tier!r}; priced tiers: {', '.join(self.known)}"
        )


class UnpricedMeter(AttributionError, LookupError):
    """The usage has tokens on a meter the model's card gives no price for.

    Raised instead of silently charging nothing for, say, audio tokens on a
    card that only lists text prices.
    """

    def __init__(self, provider: str, model: str, meters: Sequence[str]) -> None:
        self.provider = provider
        self.model = model
        self.meters = tuple(meters)
        super().__init__(f"{provider}/{model}: the price card has no price for meter(s) {', '.join(self.meters)}")


class OwnershipError(_LocatedError):
    """A call breaks the ownership contract, or an owner map is malformed.

    ``fields`` names the owner fields at issue; ``file``/``line``/``path``
    locate a problem in an owner map file.
    """

    def __init__(self, message: str, *, fields: Sequence[str] = (), file: str | None = None,
                 path: str | None = None, line: int | None = None) -> None:
        super().__init__(message, file=file, line=line, path=path)
        self.fields = tuple(fields)


class InvoiceError(_LocatedError):
    """An invoice or cost export is malformed: names the file, line (row) and column."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 column: str | None = None) -> None:
        super().__init__(message, file=file, line=line, path=column)
        self.column = column


class InvalidTimestamp(AttributionError, ValueError):
    """A timestamp without a timezone, or one that cannot be read.

    Naive datetimes are refused rather than guessed: a request at 23:30 in
    New York and one at 23:30 UTC fall on different days and may fall on
    different sides of a price change.
    """


class MissingDependency(AttributionError, ImportError):
    """An optional integration was used without its extra installed.

    The message names the extra: ``pip install 'attribution[arrow]'``.
    """

    def __init__(self, feature: str, extra: str, module: str) -> None:
        self.feature = feature
        self.extra = extra
        AttributionError.__init__(self, f"{feature} needs the optional {module!r} package: "
                                        f"pip install 'attribution[{extra}]'")
        self.name = module


class CurrencyMismatch(AttributionError, ValueError):
    """Amounts in different currencies were about to be added together."""

    def __init__(self, left: str, right: str, context: str = "") -> None:
        self.left = left
        self.right = right
        super().__init__(f"cannot combine {left} and {right} amounts{(' in ' + context) if context else ''}")


class FxTableError(_LocatedError):
    """An FX table (exchange rates the user supplies) is malformed: names the file, line and field."""


class NormalizeError(_LocatedError):
    """A provider payload could not be turned into a usage record.

    ``code`` is a stable reason code (``missing_field``, ``bad_type``,
    ``unknown_schema``...), ``path`` the field path inside the payload, and
    ``file``/``line`` where the payload came from when it was read from a file.
    """

    def __init__(self, code: str, message: str, *, path: str | None = None, file: str | None = None,
                 line: int | None = None) -> None:
        super().__init__(message, file=file, line=line, path=path)
        self.code = code
