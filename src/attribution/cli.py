"""The ``attribution`` command: a thin shell over the library's pure functions.

Exit codes: 0 success; 1 a check failed (e.g. ``cards validate`` found a bad
card); 2 usage or input errors, always as a one-line message on stderr, never
a traceback.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from ._names import BINARY_FORMATS, DEFAULT_REQUIRED, PEERS, PERIODS, REPORT_FORMATS
from ._text import safe as _safe
from ._text import table as _table
from ._usage import BILLED_METERS, METERS, Usage
from .exceptions import AttributionError, PriceCardError

if TYPE_CHECKING:
    from ._registry import Registry

# Each command imports the stages it runs when it runs: `attribution --help` or
# `attribution price` must not pay for importing the audit, the reconciler and
# every report writer (about half a second).

__all__ = ["main"]

UTC = timezone.utc


class _UsageError(Exception):
    """Bad command-line input: exit 2 with the message."""


def _registry(args: argparse.Namespace) -> Registry:
    from ._registry import load_registry

    return load_registry(*getattr(args, "pricecards", None) or ())


def _parse_at(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        if "T" in text:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
            return value if value.utcoffset() is not None else value.replace(tzinfo=UTC)
        d = date.fromisoformat(text)
    except ValueError:
        raise _UsageError(f"--at: not an ISO date or datetime: {text!r}") from None
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


# -- cards ---------------------------------------------------------------------


def _cmd_cards_list(args: argparse.Namespace) -> int:
    reg = _registry(args)
    rows = []
    for info in reg.models(args.provider):
        last = info.periods[-1]
        rows.append([info.provider, info.id, _price(last.input), _price(last.cached_input), _price(last.output),
                     last.from_.date().isoformat(), info.card_version])
    if not rows:
        raise _UsageError(f"no models for provider {args.provider!r}; known: {', '.join(reg.providers())}")
    print(_table(["provider", "model", "input/1M", "cached/1M", "output/1M", "since", "card"], rows,
                 right=(2, 3, 4)))
    print(f"\n{len(rows)} models across {len({r[0] for r in rows})} providers (current prices, USD per 1M tokens)")
    return 0


def _price(value: Decimal | None) -> str:
    return "-" if value is None else f"{value.normalize():f}"


def _cmd_cards_show(args: argparse.Namespace) -> int:
    reg = _registry(args)
    matches = [m for m in reg.models(args.provider)
               if args.model.lower() in (m.id.lower(), *m.aliases)]
    if not matches:
        providers = [args.provider] if args.provider else reg.providers()
        for prov in providers:
            try:
                _, canonical, _ = reg.canonical_model(prov, args.model)
            except AttributionError:
                continue
            matches = [m for m in reg.models(prov) if m.id == canonical]
            break
    if not matches:
        raise _UsageError(f"no model {args.model!r} on any card" + (f" of {args.provider}" if args.provider else ""))
    for info in matches:
        print(f"{info.provider}/{info.id}" + (f"  ({info.name})" if info.name else ""))
        print(f"  card {info.card_version}  ({info.card.path})")
        if info.aliases:
            print(f"  aliases: {', '.join(info.aliases)}")
        for period in info.periods:
            until = period.until.date().isoformat() if period.until else "now"
            print(f"  {period.from_.date().isoformat()} .. {until}   source: "
                  f"{period.source or info.card.card.source} (read {period.read_on or info.card.card.read_on})")
            for meter, value in period.meter_prices().items():
                unit = "1K calls" if meter == "web_search" else "1M tokens"
                print(f"    {meter:<15} {value.normalize():f} {info.card.card.currency} / {unit}")
            for tier in period.context:
                prices = ", ".join(f"{m} {v.normalize():f}" for m, v in tier.meter_prices().items())
                print(f"    prompt > {tier.above:,} tokens: {prices}")
            for name, st in sorted(period.tiers.items()):
                body = (f"x{st.multiplier}" if st.multiplier is not None
                        else ", ".join(f"{m} {v.normalize():f}" for m, v in st.meter_prices().items()))
                print(f"    tier {name}: {body}")
            for region, mult in sorted(period.regions.items()):
                print(f"    region {region}: x{mult}")
    return 0


def _cmd_cards_validate(args: argparse.Namespace) -> int:
    from ._cards import load_card
    from ._registry import bundled_card_paths, load_registry

    failures = 0
    files: list[Path] = []
    for raw in args.paths:
        p = Path(raw)
        files.extend(sorted(p.glob("*.toml")) if p.is_dir() else [p])
    good = []
    for f in files:
        try:
            good.append(load_card(f))
        except PriceCardError as exc:
            failures += 1 + len(exc.others)
            for err in (exc, *exc.others):
                print(f"FAIL {_safe(err)}")
            continue
        print(f"ok   {f}")
    if good and not failures:
        # Layer the cards on the bundled ones, as load_registry would: catches
        # aliases pointing nowhere and clashes with bundled models.
        bundled = {p.resolve() for p in bundled_card_paths()}
        own = [c.path for c in good if c.path and Path(c.path).resolve() not in bundled]
        try:
            if len(own) < len(good):  # validating the bundled cards themselves
                load_registry(*[c.path for c in good if c.path], bundled=False)
            else:
                load_registry(*own, bundled=not args.alone)
        except PriceCardError as exc:
            failures += 1
            print(f"FAIL {_safe(exc)}")
    print(f"{len(files) - min(failures, len(files))} valid, {failures} problem(s)")
    return 1 if failures else 0


def _cmd_cards_diff(args: argparse.Namespace) -> int:
    from ._carddiff import DEFAULT_PROVIDERS, compare_cards, missing_models
    from ._carddiff import rows as diff_rows
    reg = _registry(args)
    providers = [p.strip() for p in args.provider.split(",")] if args.provider else None
    check = compare_cards(reg, args.against, providers=providers)
    print(f"Our cards vs {check.peer} {check.peer_version}, prices in force {check.at.date().isoformat()}: "
          f"{len(check.compared)} models compared, {check.models_with_differences} with differences, "
          f"{len(check.unmatched)} of ours unknown to the peer")
    if check.diffs:
        print()
        print(_table(["provider", "model", "peer model", "meter", "ours", "theirs", "per"], diff_rows(check.diffs),
                     right=(4, 5)))
    if args.missing:
        missing = missing_models(reg, args.against, providers=providers or DEFAULT_PROVIDERS)
        print(f"\nModels {check.peer} prices that no loaded card knows ({len(missing)}):")
        for m in missing:
            print(f"  {m.provider}/{_safe(m.peer_model)}" + (" (deprecated)" if m.deprecated else ""))
    return 0


# -- price -------------------------------------------------------------------------


def _cmd_price(args: argparse.Namespace) -> int:
    reg = _registry(args)
    counts = {m: getattr(args, m) for m in METERS if getattr(args, m)}
    usage = Usage(**counts)
    rate = reg.resolve(args.provider, args.model, _parse_at(args.at), service_tier=args.tier, region=args.region)
    lines = rate.lines(usage)
    print(f"{rate.provider}/{rate.model}  card {rate.card_version}  tier {rate.service_tier}"
          + (f"  region {rate.region}" if rate.region else ""))
    print(f"prices from {rate.source} (read {rate.read_on.isoformat()}, in force "
          f"{rate.effective_from.date().isoformat()} .. "
          f"{rate.effective_until.date().isoformat() if rate.effective_until else 'now'})")
    rows = [[li.meter, f"{li.quantity:,}", f"{li.unit_price:f}", "1K calls" if li.per == 1000 else "1M tokens",
             f"{li.amount:f}"] for li in lines]
    total = sum((li.amount for li in lines), Decimal(0))
    rows.append(["total", "", "", "", f"{total:f}"])
    print(_table(["meter", "quantity", "unit price", "per", rate.currency], rows, right=(1, 2, 4)))
    above = rate.prices_for(usage)[1]
    if above is not None:
        print(f"long-context rates: the prompt ({usage.prompt_tokens:,} tokens) exceeds {above:,}")
    for note in rate.notes:
        print(f"note: {note}")
    return 0


# -- audit -------------------------------------------------------------------------


class _Progress:
    """A records-read counter on stderr, only when stderr is a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.count = 0

    def wrap(self, items: Iterable[Any]) -> Iterator[Any]:
        for item in items:
            self.count += 1
            if self.enabled and self.count % 50_000 == 0:
                print(f"\rattribution: {self.count:,} records read...", end="", file=sys.stderr, flush=True)
            yield item
        if self.enabled and self.count >= 50_000:
            print(f"\rattribution: {self.count:,} records read.    ", file=sys.stderr, flush=True)


def _inputs(paths: Sequence[str]) -> Iterator[Any]:
    from .io import read_payloads

    for p in paths:
        yield from read_payloads(p)


def _parse_day(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _UsageError(f"{flag}: not an ISO date (YYYY-MM-DD): {text!r}") from None


def _cmd_audit(args: argparse.Namespace) -> int:
    from ._bounded import limits

    with limits(max_line_bytes=args.max_line_bytes, max_file_bytes=args.max_file_bytes, max_depth=args.max_depth):
        return _audit(args)


_SIZE_UNITS = {"": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
               "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30}


def _byte_size(text: str) -> int:
    """``--max-line-bytes 16MiB``: a positive byte count, with an optional K/M/G (binary) unit."""
    import re

    m = re.fullmatch(r"\s*(\d[\d_,]*)\s*([A-Za-z]*)\s*", text)
    unit = _SIZE_UNITS.get(m.group(2).lower()) if m else None
    if m is None or unit is None:
        raise argparse.ArgumentTypeError(f"not a byte size (e.g. 1048576, 64KiB, 16MiB, 1GiB): {text[:40]!r}")
    value = int(m.group(1).replace("_", "").replace(",", "")) * unit
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 byte: {text}")
    return value


def _audit(args: argparse.Namespace) -> int:
    import attrs

    from ._allocate import load_policy
    from ._audit import run_audit
    from ._money import present
    from ._ownership import OwnershipContract, load_owner_map
    from .invoices import read_invoice
    from .reports import write_report

    reg = _registry(args)
    dims = tuple(d.strip() for d in args.by.split(",") if d.strip()) if args.by else ("team",)
    required = tuple(f.strip() for f in args.require.split(",") if f.strip())
    for p in (*args.inputs, *(args.invoice or ()), *(x for x in (args.owners, args.policy) if x)):
        if not Path(p).exists():
            raise _UsageError(f"no such file: {p}")
    owner_map = load_owner_map(args.owners) if args.owners else None
    policy = load_policy(args.policy) if args.policy else None
    invoice_files = [f for path in (args.invoice or ()) for f in
                     (sorted(x for x in Path(path).iterdir() if x.is_file() and not x.name.startswith("."))
                      if Path(path).is_dir() else [Path(path)])]
    invoices = [line for path in invoice_files for line in read_invoice(path)]
    contract = OwnershipContract(required=required, owner_map=owner_map)
    progress = _Progress(sys.stderr.isatty())
    report = run_audit(progress.wrap(_inputs(args.inputs)), registry=reg, contract=contract, by=dims,
                       period=args.period, since=_parse_day(args.since, "--since"),
                       until=_parse_day(args.until, "--until"), invoices=invoices, policy=policy,
                       chunk_size=args.chunk_size)
    if args.tolerance is not None and report.reconciliation is not None:
        report = attrs.evolve(report, reconciliation=attrs.evolve(report.reconciliation, tolerance=args.tolerance))
    fmt = args.format
    if fmt in BINARY_FORMATS and not args.output:
        raise _UsageError(f"--format {fmt} writes a binary file: give -o OUT")
    if args.output:
        # Render first, then write: a writer that fails (a missing extra) must not leave an empty file behind.
        buffer: io.BytesIO | io.StringIO = io.BytesIO() if fmt in BINARY_FORMATS else io.StringIO(newline="")
        write_report(report, fmt, buffer)
        try:
            if isinstance(buffer, io.BytesIO):
                Path(args.output).write_bytes(buffer.getvalue())
            else:
                Path(args.output).write_text(buffer.getvalue(), encoding="utf-8", newline="")
        except OSError as exc:
            raise _UsageError(f"cannot write {args.output}: {exc.strerror}") from None
        print(f"attribution: wrote {fmt} report to {args.output}", file=sys.stderr)
    else:
        write_report(report, fmt, sys.stdout)
    failures = []
    cov = report.coverage
    if args.fail_under_coverage is not None and cov.coverage * 100 < args.fail_under_coverage:
        failures.append(f"coverage {present(cov.coverage * 100, Decimal('0.1'))}% is under "
                        f"--fail-under-coverage {args.fail_under_coverage}%")
    rep = report.reconciliation
    if rep is not None and not all(r.matched for r in rep.lines):
        outside = sum(1 for r in rep.lines if not r.matched)
        failures.append(f"{outside} invoice line(s) differ from priced usage by more than "
                        f"{present(rep.tolerance * 100, Decimal('0.1'))}%")
    for failure in failures:
        print(f"attribution: {failure}", file=sys.stderr)
    return 1 if failures else 0


# -- wiring ------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="attribution", description="Exact, explainable LLM cost attribution.")
    parser.add_argument("--version", action="version", version=f"attribution {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def cards_opt(p: argparse.ArgumentParser) -> None:
        p.add_argument("--pricecards", action="append", metavar="PATH",
                       help="extra price card file or directory, layered over the bundled cards (repeatable)")

    cards = sub.add_parser("cards", help="list, show and validate price cards")
    csub = cards.add_subparsers(dest="cards_command", required=True)
    p = csub.add_parser("list", help="list known models and their current prices")
    p.add_argument("--provider")
    cards_opt(p)
    p.set_defaults(func=_cmd_cards_list)
    p = csub.add_parser("show", help="show every price period, tier and source of a model")
    p.add_argument("model")
    p.add_argument("--provider")
    cards_opt(p)
    p.set_defaults(func=_cmd_cards_show)
    p = csub.add_parser("diff", help="compare our unit prices with a peer's installed data (no network)")
    p.add_argument("--against", required=True, choices=PEERS)
    p.add_argument("--provider", help="comma-separated providers to compare (default: all)")
    p.add_argument("--missing", action="store_true", help="also list models the peer has that we lack")
    cards_opt(p)
    p.set_defaults(func=_cmd_cards_diff)
    p = csub.add_parser("validate", help="validate price card files (exit 1 on any problem)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--alone", action="store_true", help="do not layer the cards over the bundled ones")
    p.set_defaults(func=_cmd_cards_validate)

    p = sub.add_parser("price", help="price one request and show the line items")
    p.add_argument("--provider", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--at", help="ISO date or datetime the request was made (default: newest price)")
    p.add_argument("--tier", help="service tier: batch, priority, flex... (default standard)")
    p.add_argument("--region", help="region or cross-region profile (global, us, eu...)")
    for meter in (*BILLED_METERS, "reasoning"):
        p.add_argument(f"--{meter.replace('_', '-')}", dest=meter, type=_count, default=0, metavar="N")
    cards_opt(p)
    p.set_defaults(func=_cmd_price)

    p = sub.add_parser("audit", help="normalize, price and roll up usage files; print spend by owner")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help=".jsonl / .json files (optionally .gz)")
    p.add_argument("--by", default="team", help="comma-separated dimensions (default: team)")
    p.add_argument("--format", choices=REPORT_FORMATS, default="table")
    p.add_argument("-o", "--output", metavar="OUT", help="write the report to OUT instead of standard output")
    p.add_argument("--invoice", action="append", metavar="FILE",
                   help="provider cost export or plain invoice CSV to reconcile against, or a directory of them "
                   "(repeatable)")
    p.add_argument("--policy", metavar="FILE", help="allocation policy (TOML) for shared costs")
    p.add_argument("--period", choices=PERIODS, help="compare the last two periods and flag anomalies")
    p.add_argument("--since", metavar="DATE", help="only calls on or after this UTC day (YYYY-MM-DD)")
    p.add_argument("--until", metavar="DATE", help="only calls on or before this UTC day (YYYY-MM-DD)")
    p.add_argument("--chunk-size", type=_positive, metavar="N",
                   help="stream the input N records at a time: memory stays flat however large the input; request "
                   "trees are then resolved within each chunk, duplicates across the whole input (up to 2,000,000 "
                   "distinct calls; the report counts any past that) (e.g. 50000)")
    p.add_argument("--tolerance", type=Decimal, metavar="RATIO",
                   help="reconciliation tolerance per invoice line, as a ratio (default 0.02)")
    p.add_argument("--owners", metavar="FILE", help="owner map (TOML or CSV): owner field value -> cost center, "
                   "budget line, named owner")
    p.add_argument("--require", default=",".join(DEFAULT_REQUIRED), metavar="FIELDS",
                   help=f"owner fields every call must carry (default: {','.join(DEFAULT_REQUIRED)})")
    p.add_argument("--fail-under-coverage", type=Decimal, metavar="PCT",
                   help="exit 1 when less than PCT percent of spend has a valid owner")
    p.add_argument("--max-line-bytes", type=_byte_size, metavar="SIZE",
                   help="longest input line (or CSV row) read; a longer one is quarantined (default 8MiB)")
    p.add_argument("--max-file-bytes", type=_byte_size, metavar="SIZE",
                   help="largest file read whole: a .json input, invoice JSON, price card, policy, owner map "
                   "(default 64MiB)")
    p.add_argument("--max-depth", type=_positive, metavar="N",
                   help="deepest JSON nesting read; a deeper line is quarantined (default 64)")
    cards_opt(p)
    p.set_defaults(func=_cmd_audit)
    return parser


def _count(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text}")
    return value


def _positive(text: str) -> int:
    value = _count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (AttributionError, _UsageError) as exc:
        print(f"attribution: error: {_safe(exc)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `attribution cards list | head`
        return 0
    except KeyboardInterrupt:
        print("attribution: interrupted", file=sys.stderr)
        return 130
