"""The ``attribution`` command: a thin shell over the library's pure functions.

Exit codes: 0 success; 1 a check failed (e.g. ``cards validate`` found a bad
card); 2 usage or input errors, always as a one-line message on stderr, never
a traceback.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

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


def _say(line: str) -> None:
    """Print one line of human-facing text; card and log text in it cannot send terminal escape sequences."""
    print(_safe(line))


def _registry(args: argparse.Namespace) -> Registry:
    from ._registry import load_registry

    return load_registry(*getattr(args, "pricecards", None) or ())


def _parse_at(text: str) -> datetime:
    """``--at``: an ISO date or datetime (naive means UTC) inside the supported range."""
    from ._instant import instant_problem

    try:
        if not text.isascii():
            raise ValueError
        if "T" in text:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        else:
            d = date.fromisoformat(text)
            value = datetime(d.year, d.month, d.day, tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or datetime: {text[:40]!r}") from None
    if problem := instant_problem(value):
        raise argparse.ArgumentTypeError(problem)
    return value if value.utcoffset() is not None else value.replace(tzinfo=UTC)


# -- cards ---------------------------------------------------------------------


def _cmd_cards_list(args: argparse.Namespace) -> int:
    reg = _registry(args)
    if args.provenance:
        return _cards_provenance(reg, args.provider)
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
    excluded = reg.excluded(args.provider)
    if excluded:
        if args.excluded:
            print(f"\nLeft out on purpose ({len(excluded)}):")
            for prov, entry in excluded:
                print(f"  {prov}/{_safe(entry.id)}: {_safe(entry.reason)}")
        else:
            print(f"{len(excluded)} models left out on purpose, with reasons: attribution cards list --excluded")
    return 0


def _cards_provenance(reg: Registry, provider: str | None) -> int:
    """``cards list --provenance``: price periods per provider by where their numbers came from."""
    from ._provenance import KINDS, count_kinds, summary

    per: dict[str, dict[str, int]] = {}
    for info in reg.models(provider):
        counts = count_kinds((p, info.card) for p in info.periods)
        into = per.setdefault(info.provider, dict.fromkeys(KINDS, 0))
        for kind, n in counts.items():
            into[kind] = into.get(kind, 0) + n
    if not per:
        raise _UsageError(f"no models for provider {provider!r}; known: {', '.join(reg.providers())}")
    total = {k: sum(c.get(k, 0) for c in per.values()) for k in KINDS}
    rows = [[prov, *(str(c.get(k, 0)) for k in KINDS), str(sum(c.values()))] for prov, c in sorted(per.items())]
    rows.append(["total", *(str(total[k]) for k in KINDS), str(sum(total.values()))])
    print(_table(["provider", *KINDS, "periods"], rows, right=tuple(range(1, len(KINDS) + 2))))
    print(f"\n{summary(total)}")
    return 0


def _price(value: Decimal | None) -> str:
    return "-" if value is None else f"{value.normalize():f}"


def _cmd_cards_show(args: argparse.Namespace) -> int:
    from ._provenance import provenance

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
        left_out = [(prov, e) for prov, e in reg.excluded(args.provider)
                    if args.model.lower() in (e.id.lower(), *(a.lower() for a in e.aliases))]
        for prov, entry in left_out:
            _say(f"{prov}/{entry.id}: not priced (excluded by the card): {entry.reason}")
        if left_out:
            return 1
        raise _UsageError(f"no model {args.model!r} on any card" + (f" of {args.provider}" if args.provider else ""))
    for info in matches:
        _say(f"{info.provider}/{info.id}" + (f"  ({info.name})" if info.name else ""))
        _say(f"  card {info.card_version}  ({info.card.path})")
        if info.aliases:
            _say(f"  aliases: {', '.join(info.aliases)}")
        for period in info.periods:
            until = _instant_text(period.until) if period.until else "now"
            _say(f"  {_instant_text(period.from_)} .. {until}   {provenance(period, info.card).describe()}")
            for meter, value in period.meter_prices().items():
                unit = "1K calls" if meter == "web_search" else "1M tokens"
                _say(f"    {meter:<15} {value.normalize():f} {info.card.card.currency} / {unit}")
            for tier in period.context:
                prices = ", ".join(f"{m} {v.normalize():f}" for m, v in tier.meter_prices().items())
                _say(f"    prompt > {tier.above:,} tokens: {prices}")
            for name, st in sorted(period.tiers.items()):
                body = (f"x{st.multiplier}" if st.multiplier is not None
                        else ", ".join(f"{m} {v.normalize():f}" for m, v in st.meter_prices().items()))
                _say(f"    tier {name}: {body}")
            for region, mult in sorted(period.regions.items()):
                _say(f"    region {region}: x{mult}")
            _show_structures(period)
    return 0


def _instant_text(when: datetime) -> str:
    """A period boundary as the card wrote it: a date at UTC midnight, else the UTC time too."""
    if when.hour or when.minute or when.second:
        return when.strftime("%Y-%m-%d %H:%M UTC")
    return when.date().isoformat()


def _show_structures(period: Any) -> None:
    """Regional prices, time windows and stated assumptions of one period (``cards show``)."""
    def prices(table: Any) -> str:
        return ", ".join(f"{m} {v.normalize():f}" for m, v in table.meter_prices().items())

    for region, table in sorted(period.regional.items()):
        _say(f"    region {region}: {prices(table)}" + (f"  ({table.note})" if table.note else ""))
        for name, st in sorted(table.tiers.items()):
            _say(f"      tier {name}: " + (f"x{st.multiplier}" if st.multiplier is not None else prices(st)))
    for window in period.time_windows:
        days = ", ".join(window.days) if window.days else "every day"
        body = f"x{window.multiplier}" if window.multiplier is not None else prices(window)
        _say(f"    {window.name or 'time window'} (UTC {', '.join(window.hours)}; {days}): {body}")
    for a in period.assumptions:
        _say(f"    assumed ({a.tier} {a.meter}): {a.assumed}")


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
        _say(f"ok   {f}")
    if good:
        # Layer the cards on the bundled ones, as load_registry would: catches
        # aliases pointing nowhere and clashes with bundled models. The cards that
        # failed are left out, so every problem is reported in one run.
        note = " (layered without the cards that failed above)" if failures else ""
        bundled = {p.resolve() for p in bundled_card_paths()}
        own = [c.path for c in good if c.path and Path(c.path).resolve() not in bundled]
        try:
            if len(own) < len(good):  # validating the bundled cards themselves
                load_registry(*[c.path for c in good if c.path], bundled=False)
            else:
                load_registry(*own, bundled=not args.alone)
        except PriceCardError as exc:
            failures += 1 + len(exc.others)
            for err in (exc, *exc.others):
                print(f"FAIL {_safe(err)}{note}")
    print(f"{len(files) - min(failures, len(files))} valid, {failures} problem(s)")
    return 1 if failures else 0


def _cmd_cards_diff(args: argparse.Namespace) -> int:
    from ._carddiff import DEFAULT_PROVIDERS, compare_cards, missing_models
    from ._carddiff import rows as diff_rows
    reg = _registry(args)
    providers = [p.strip() for p in args.provider.split(",")] if args.provider else None
    check = compare_cards(reg, args.against, providers=providers)
    _say(f"Our cards vs {check.peer} {check.peer_version}, prices in force {check.at.date().isoformat()}: "
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


def _cmd_cards_sync(args: argparse.Namespace) -> int:
    """``cards sync``: the monthly update report and proposed TOML; exit 0 in sync, 1 when there is work."""
    from ._cardsync import crosscheck_section, parse_explanations, replace_section, sync_cards, write_sync

    reg = _registry(args)
    providers = [p.strip() for p in args.provider.split(",") if p.strip()] if args.provider else None
    from ._registry import canonical_provider

    for prov in providers or ():
        if canonical_provider(prov) not in reg.providers():
            raise _UsageError(f"no cards for provider {prov!r}; known: {', '.join(reg.providers())}")
    read_on = args.read_on or datetime.now(UTC).date()
    reports = [sync_cards(reg, peer, read_on=read_on, providers=providers) for peer in dict.fromkeys(args.peers)]
    for r in reports:
        print(f"attribution: {r.peer_label}: {r.check.models_with_differences} models with {len(r.check.diffs)} "
              f"differing prices, {len(r.missing)} peer models no card knows", file=sys.stderr)
    if args.crosscheck_doc:
        from ._atomic import atomic_output
        from ._provenance import count_kinds

        path = Path(args.crosscheck_doc)
        try:
            text = path.read_text(encoding="utf-8") if path.exists() else ""
        except (OSError, UnicodeDecodeError) as exc:
            raise _UsageError(f"cannot read {path}: {exc}") from None
        counts = count_kinds((p, m.card) for m in reg.models() for p in m.periods)
        section, unexplained = crosscheck_section(reports, parse_explanations(text), counts)
        try:
            with atomic_output(path) as fh:
                fh.write(replace_section(text, section))
        except OSError as exc:
            raise _UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
        total = sum(len(r.check.diffs) for r in reports)
        print(f"attribution: wrote {path}: {total - unexplained} of {total} differences explained"
              + (f", {unexplained} unexplained (add them to its explanations table)" if unexplained else ""),
              file=sys.stderr)
        if not args.output:
            return 1 if unexplained else 0
    if args.output:
        try:
            files = write_sync(reports, Path(args.output))
        except OSError as exc:
            raise _UsageError(f"cannot write into {args.output}: {exc.strerror or exc}") from None
        for f in files:
            print(f"attribution: wrote {f}", file=sys.stderr)
    elif not args.crosscheck_doc:
        for r in reports:
            sys.stdout.write(r.markdown())
        print("attribution: the proposed TOML is written with -o DIR", file=sys.stderr)
    return 0 if all(r.in_sync for r in reports) else 1


# -- price -------------------------------------------------------------------------


def _cmd_price(args: argparse.Namespace) -> int:
    reg = _registry(args)
    counts = {m: getattr(args, m) for m in METERS if getattr(args, m)}
    usage = Usage(**counts)
    rate = reg.resolve(args.provider, args.model, args.at, service_tier=args.tier, region=args.region)
    lines = rate.lines(usage)
    _say(f"{rate.provider}/{rate.model}  card {rate.card_version}  tier {rate.service_tier}"
         + (f"  region {rate.region}" if rate.region else ""))
    _say(f"prices from {rate.source} (read {rate.read_on.isoformat()}, in force "
         f"{rate.effective_from.date().isoformat()} .. "
         f"{rate.effective_until.date().isoformat() if rate.effective_until else 'now'})")
    rows = [[li.meter, f"{li.quantity:,}", f"{li.unit_price:f}", "1K calls" if li.per == 1000 else "1M tokens",
             f"{li.amount:f}"] for li in lines]
    total = sum((li.amount for li in lines), Decimal(0))
    rows.append(["total", "", "", "", f"{total:f}"])
    print(_table(["meter", "quantity", "unit price", "per", rate.currency], rows, right=(1, 2, 4)))
    above = rate.prices_for(usage)[1]
    if above is not None:
        _say(f"long-context rates: the prompt ({usage.prompt_tokens:,} tokens) exceeds {above:,}")
    for note in rate.notes:
        _say(f"note: {note}")
    return 0


# -- audit -------------------------------------------------------------------------


#: The input name that reads standard input.
STDIN = "-"


def _stdin_payloads() -> Iterator[Any]:
    """JSON Lines from standard input, read and bounded exactly like a ``.jsonl`` file named ``<stdin>``."""
    from ._bounded import current_limits
    from .io import _json_lines

    yield from _json_lines(sys.stdin.buffer, "<stdin>", current_limits())


def _inputs(paths: Sequence[str]) -> Iterator[Any]:
    from .io import read_payloads

    for p in paths:
        yield from (_stdin_payloads() if p == STDIN else read_payloads(p))


def _parse_day(text: str) -> date:
    """``--since`` / ``--until``: a UTC day, ``YYYY-MM-DD``, inside the supported range."""
    from ._instant import instant_problem

    try:
        if not text.isascii() or len(text) != 10:
            raise ValueError
        day = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {text[:40]!r}") from None
    if problem := instant_problem(day):
        raise argparse.ArgumentTypeError(problem)
    return day


def _cmd_audit(args: argparse.Namespace) -> int:
    from ._bounded import limits

    with limits(max_line_bytes=args.max_line_bytes, max_file_bytes=args.max_file_bytes, max_depth=args.max_depth):
        return _audit(args)


_SIZE_UNITS = {"": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
               "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30}


def _byte_size(text: str) -> int:
    """``--max-line-bytes 16MiB``: a positive byte count, with an optional K/M/G (binary) unit."""
    import re

    m = re.fullmatch(r"\s*([0-9][0-9_,]*)\s*([A-Za-z]*)\s*", text)   # ASCII digits: no '٣'
    unit = _SIZE_UNITS.get(m.group(2).lower()) if m else None
    if m is None or unit is None:
        raise argparse.ArgumentTypeError(f"not a byte size (e.g. 1048576, 64KiB, 16MiB, 1GiB): {text[:40]!r}")
    digits = m.group(1).replace("_", "").replace(",", "")
    value = int(digits) * unit if len(digits) <= 20 else 1 << 64
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 byte: {text}")
    if value > 1 << 40:   # io reads with readline(limit): past sys.maxsize it overflows
        raise argparse.ArgumentTypeError(f"{text[:40]} is out of range: at most 1TiB")
    return value


def _audit(args: argparse.Namespace) -> int:
    import attrs

    from ._allocate import load_policy
    from ._audit import run_audit
    from ._fx import load_fx
    from ._money import present
    from ._ownership import OwnershipContract, load_owner_map
    from ._tree import DEDUPE_LIMIT
    from .invoices import read_invoice
    from .reports import write_report

    if args.since is not None and args.until is not None and args.since > args.until:
        raise _UsageError(f"--since {args.since} is after --until {args.until}: no day would be kept")
    reg = _registry(args)
    dims = tuple(d.strip() for d in args.by.split(",") if d.strip()) if args.by else ("team",)
    required = tuple(f.strip() for f in args.require.split(",") if f.strip())
    if args.inputs.count(STDIN) > 1:
        raise _UsageError("standard input ('-') can be read only once")
    stdin = STDIN in args.inputs
    if stdin and args.engine == "fast":
        raise _UsageError("--engine fast reads files; standard input ('-') goes through --engine python or auto")
    for p in (*args.inputs, *(args.invoice or ()), *(x for x in (args.owners, args.policy, args.fx) if x)):
        if p != STDIN and not Path(p).exists():
            raise _UsageError(f"no such file: {p}")
    for p in (*(args.invoice or ()), *(x for x in (args.owners, args.policy, args.fx) if x)):
        if p == STDIN:
            raise _UsageError("standard input ('-') is for usage records; give invoices, owner maps, policies "
                              "and FX tables as files")
    owner_map = load_owner_map(args.owners) if args.owners else None
    policy = load_policy(args.policy) if args.policy else None
    fx = load_fx(args.fx) if args.fx else None
    invoice_files = [f for path in (args.invoice or ()) for f in
                     (sorted(x for x in Path(path).iterdir() if x.is_file() and not x.name.startswith("."))
                      if Path(path).is_dir() else [Path(path)])]
    invoices = [line for path in invoice_files for line in read_invoice(path)]
    contract = OwnershipContract(required=required, owner_map=owner_map)
    from ._progress import Progress, count_records

    show = sys.stderr.isatty() and not args.quiet
    progress = Progress(enabled=show, total=count_records(args.inputs) if show else None)
    # The fast engine reads the files itself; the Python engine streams them (with a progress bar).
    items: Any = ([Path(p) for p in args.inputs] if args.engine != "python" and args.chunk_size is None
                  and not stdin else progress.wrap(_inputs(args.inputs)))
    report = run_audit(items, registry=reg, contract=contract, by=dims,
                       period=args.period, since=args.since, until=args.until, invoices=invoices, policy=policy,
                       chunk_size=args.chunk_size, fx=fx, dedupe_limit=args.dedupe_limit or DEDUPE_LIMIT,
                       engine=args.engine)
    _check_by(dims, report, required)
    if args.tolerance is not None and report.reconciliation is not None:
        report = attrs.evolve(report, reconciliation=attrs.evolve(report.reconciliation, tolerance=args.tolerance))
    fmt = args.format
    if fmt in BINARY_FORMATS and not args.output:
        raise _UsageError(f"--format {fmt} writes a binary file: give -o OUT")
    if args.output:
        # Straight into a temporary file beside OUT, renamed over it only once complete: a writer that
        # fails (a missing extra, bad data) or a run killed mid-write leaves the previous OUT untouched.
        from ._atomic import atomic_output

        try:
            with atomic_output(args.output, binary=fmt in BINARY_FORMATS) as fh:
                write_report(report, fmt, fh)
        except OSError as exc:
            raise _UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from None
        if not args.quiet:
            print(f"attribution: wrote {fmt} report to {args.output}", file=sys.stderr)
    elif fmt == "table" and sys.stdout.isatty():
        from .reports._table import write_table

        # Prose lines wrap at the terminal's width; a pipe or file gets the lines whole.
        write_table(report, sys.stdout, width=shutil.get_terminal_size((100, 24)).columns)
    else:
        write_report(report, fmt, sys.stdout)
    failures = []
    cov = report.coverage
    if args.fail_under_coverage is not None and cov.coverage * 100 < args.fail_under_coverage:
        failures.append(f"coverage {present(cov.coverage * 100, Decimal('0.1'))}% is under "
                        f"--fail-under-coverage {args.fail_under_coverage}%")
    rep = report.reconciliation
    if args.fail_on_variance and rep is not None and not all(r.matched for r in rep.lines):
        outside = sum(1 for r in rep.lines if not r.matched)
        failures.append(f"{outside} invoice line(s) differ from priced usage by more than "
                        f"{present(rep.tolerance * 100, Decimal('0.1'))}%")
    for failure in failures:
        print(f"attribution: {failure}", file=sys.stderr)
    return 1 if failures else 0


def _check_by(dims: Sequence[str], report: Any, required: Sequence[str]) -> None:
    """Refuse a ``--by`` field that is neither built in, an owner field, nor a tag any priced call carries.

    A misspelt field (``--by teem``) would otherwise put every call under ``(none)``.
    """
    from ._audit import OWNER_TAGS
    from ._rollup import BUILTIN_DIMENSIONS

    known = (*BUILTIN_DIMENSIONS, *dict.fromkeys((*OWNER_TAGS, *required)))
    if not report.rollup.records:
        return
    keys = report.rollup.keys()
    for i, dim in enumerate(dims):
        if dim in known or any(k[i] is not None for k in keys):
            continue
        raise _UsageError(f"unknown --by field {dim!r}: no priced call carries it; known fields: "
                          f"{', '.join(known)} (or any tag the calls carry)")


# -- wiring ------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="attribution", description="Exact, explainable LLM cost attribution.")
    parser.add_argument("--version", action="version", version=f"attribution {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def cards_opt(p: argparse.ArgumentParser) -> None:
        p.add_argument("--pricecards", action="append", metavar="PATH",
                       help="extra price card file or directory, layered over the bundled cards (repeatable)")

    cards = sub.add_parser("cards", help="list, show and validate price cards")
    csub = cards.add_subparsers(dest="cards_command", required=True)
    p = csub.add_parser("list", help="list known models and their current prices")
    p.add_argument("--provider")
    p.add_argument("--excluded", action="store_true",
                   help="also list the models the cards leave out on purpose, with the reason")
    p.add_argument("--provenance", action="store_true",
                   help="count price periods by provenance: verified on a provider page, peer data only...")
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
    p = csub.add_parser("sync", help="what a peer's installed data prices differently or has that the cards lack: "
                        "a report and proposed TOML for review (never edits the cards; exit 1 when there is work)")
    p.add_argument("--from", dest="peers", action="append", required=True, choices=PEERS,
                   help="peer whose installed package data to read (repeatable; no network)")
    p.add_argument("--provider", help="comma-separated providers (default: every provider on the cards)")
    p.add_argument("-o", "--output", metavar="DIR",
                   help="write <peer>-sync.md and the proposed <peer>-<provider>.toml into DIR")
    p.add_argument("--read-on", type=_parse_day, metavar="DATE",
                   help="the day the peer data is read: the proposed periods' read_on and the prices compared "
                   "(default: today, UTC)")
    p.add_argument("--crosscheck-doc", metavar="FILE",
                   help="regenerate the generated tables of FILE (docs/price-card-crosscheck.md), explaining each "
                   "difference from its explanations table; exit 1 if any is unexplained")
    cards_opt(p)
    p.set_defaults(func=_cmd_cards_sync)
    p = csub.add_parser("validate", help="validate price card files (exit 1 on any problem)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--alone", action="store_true", help="do not layer the cards over the bundled ones")
    p.set_defaults(func=_cmd_cards_validate)

    p = sub.add_parser("price", help="price one request and show the line items")
    p.add_argument("--provider", required=True, help="provider id as on the cards: openai, anthropic, bedrock, "
                   "vertex, azure... (synonyms such as azure_openai fold)")
    p.add_argument("--model", required=True, help="model id, alias or dated snapshot (an unknown one is an error "
                   "listing close matches)")
    p.add_argument("--at", type=_parse_at, help="ISO date or datetime the request was made (default: newest price)")
    p.add_argument("--tier", help="service tier: batch, priority, flex... (default standard)")
    p.add_argument("--region", help="region or cross-region profile (global, us, eu...)")
    for meter in (*BILLED_METERS, "reasoning"):
        p.add_argument(f"--{meter.replace('_', '-')}", dest=meter, type=_count, default=0, metavar="N",
                       help=_METER_HELP[meter])
    cards_opt(p)
    p.set_defaults(func=_cmd_price)

    p = sub.add_parser("audit", help="normalize, price and roll up usage files; print spend by owner")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help=".jsonl / .ndjson / .json / .csv files (optionally .gz) or .parquet; '-' reads JSON Lines "
                   "from standard input")
    p.add_argument("--by", default="team",
                   help="comma-separated fields to group by: owner tags (team, project, feature, tenant...), "
                   "provider, model, service_tier, region, day, week, month... (default: team)")
    p.add_argument("--format", choices=REPORT_FORMATS, default="table",
                   help="report format: table (terminal), json, html (one self-contained page), csv or parquet "
                   "(charge lines), focus or focus-parquet (FOCUS 1.3 export) (default: table)")
    p.add_argument("-o", "--output", metavar="OUT", help="write the report to OUT instead of standard output")
    p.add_argument("--invoice", action="append", metavar="FILE",
                   help="provider cost export or plain invoice CSV to reconcile against, or a directory of them "
                   "(repeatable)")
    p.add_argument("--policy", metavar="FILE", help="allocation policy (TOML) for shared costs")
    p.add_argument("--fx", metavar="FILE",
                   help="dated exchange rates (TOML [[rate]] from/to/rate/date, or CSV): the only way an invoice, "
                   "pool or budget in another currency is compared with the priced usage; rates are shown")
    p.add_argument("--period", choices=PERIODS, help="compare the last two periods and flag anomalies")
    p.add_argument("--since", type=_parse_day, metavar="DATE", help="only calls on or after this UTC day (YYYY-MM-DD)")
    p.add_argument("--until", type=_parse_day, metavar="DATE", help="only calls on or before this UTC day (YYYY-MM-DD)")
    p.add_argument("--engine", choices=("auto", "python", "fast"), default="auto",
                   help="who computes the audit: the columnar engine (extra 'fast', DuckDB), the Python engine, or "
                   "auto (the default: fast when installed and the input qualifies); the report says which ran")
    p.add_argument("--chunk-size", type=_positive, metavar="N",
                   help="stream the input N records at a time: memory stays flat however large the input; request "
                   "trees are then resolved within each chunk, duplicates across the whole input (up to "
                   "--dedupe-limit distinct calls; the report counts any past that) (e.g. 50000)")
    p.add_argument("--dedupe-limit", type=_positive, metavar="N",
                   help="with --chunk-size: remember up to N distinct calls to find duplicates (8 bytes each; "
                   "default 1000000, about 11 MB); calls past it are counted as not checked")
    p.add_argument("--tolerance", type=_tolerance, metavar="RATIO",
                   help="reconciliation tolerance per invoice line, as a ratio (default 0.02)")
    p.add_argument("--owners", metavar="FILE", help="owner map (TOML or CSV): owner field value -> cost center, "
                   "budget line, named owner")
    p.add_argument("--require", default=",".join(DEFAULT_REQUIRED), metavar="FIELDS",
                   help=f"owner fields every call must carry (default: {','.join(DEFAULT_REQUIRED)})")
    p.add_argument("--fail-under-coverage", type=_percent, metavar="PCT",
                   help="exit 1 when less than PCT percent of spend has a valid owner")
    p.add_argument("--fail-on-variance", action="store_true",
                   help="exit 1 when any invoice line differs from priced usage by more than --tolerance")
    p.add_argument("--max-line-bytes", type=_byte_size, metavar="SIZE",
                   help="longest input line (or CSV row) read; a longer one is quarantined (default 8MiB)")
    p.add_argument("--max-file-bytes", type=_byte_size, metavar="SIZE",
                   help="largest file read whole: a .json input, invoice JSON, price card, policy, owner map "
                   "(default 64MiB)")
    p.add_argument("--max-depth", type=_positive, metavar="N",
                   help="deepest JSON nesting read; a deeper line is quarantined (default 64)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bar and no 'wrote' line on standard error (errors are still shown)")
    cards_opt(p)
    p.set_defaults(func=_cmd_audit)
    return parser


#: ``price`` meter options' help: the unit each counts.
_METER_HELP = {
    "input": "uncached input (prompt) tokens",
    "cached_input": "input tokens read from the prompt cache",
    "cache_write": "input tokens written to the prompt cache (5-minute TTL)",
    "cache_write_1h": "input tokens written to the prompt cache (1-hour TTL)",
    "output": "output tokens, reasoning included",
    "input_audio": "audio input tokens",
    "output_audio": "audio output tokens",
    "input_image": "image input tokens",
    "output_image": "image output tokens",
    "web_search": "web search calls (priced per 1,000 calls)",
    "reasoning": "of the output tokens, how many were reasoning (shown, not billed again)",
}


# -- option values: every numeric and date option is checked here, at parse time ----------------
# argparse turns an ArgumentTypeError into exit 2 and one line naming the option (see _Parser).

_DIGITS = frozenset("0123456789")


def _count(text: str) -> int:
    """A whole number of tokens or calls, ``0 .. 10^13`` (ASCII digits; ``_`` and ``,`` group them)."""
    from ._usage import MAX_COUNT

    digits = text.strip().replace("_", "").replace(",", "")
    if digits.startswith("-") and digits[1:] and set(digits[1:]) <= _DIGITS:
        raise argparse.ArgumentTypeError(f"must not be negative: {text[:40]}")
    if not digits or not set(digits) <= _DIGITS or len(digits) > 20:   # no '٣', '1e3', '+5', '0x10'
        raise argparse.ArgumentTypeError(f"not a whole number: {text[:40]!r}")
    value = int(digits)
    if value > MAX_COUNT:
        raise argparse.ArgumentTypeError(f"{text[:40]} is above the limit of {MAX_COUNT:,}")
    return value


def _positive(text: str) -> int:
    value = _count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text[:40]}")
    return value


_NUMBER = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")


def _decimal_in(text: str, low: Decimal, high: Decimal, what: str) -> Decimal:
    """A plain decimal number (``0.02``, ``97.5``: no exponent, NaN or Infinity) in ``[low, high]``."""
    stripped = text.strip()
    if stripped.startswith("-") and _NUMBER.fullmatch(stripped[1:]):
        raise argparse.ArgumentTypeError(f"must not be negative: {text[:40]}")
    if not _NUMBER.fullmatch(stripped) or len(stripped) > 40:
        raise argparse.ArgumentTypeError(f"not a plain decimal {what}: {text[:40]!r}")
    value = Decimal(stripped)
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{stripped} is out of range: {what} must be from {low} to {high}")
    return value


def _tolerance(text: str) -> Decimal:
    """``--tolerance``: a ratio from 0 to 1 (``0.02`` is 2%)."""
    return _decimal_in(text, Decimal(0), Decimal(1), "ratio")


def _percent(text: str) -> Decimal:
    """``--fail-under-coverage``: a percentage from 0 to 100."""
    return _decimal_in(text, Decimal(0), Decimal(100), "percentage")


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line (``attribution audit: error: argument --tolerance: ...``), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {_safe(message)} (see {self.prog} --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:   # a bad option (one line on stderr, 2), --help or --version (0)
        return exc.code if isinstance(exc.code, int) else 2
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
