"""`missing-bot import | report | export`: history in, board figures and statutory returns out.

    missing-bot import history.csv
    missing-bot report --from 2025-04-01 --to 2026-03-31 --format md --charts charts/
    missing-bot export ssda903 --year 2025 > missing_2025.csv
    missing-bot export annex-a > annex_a_list8_missing.csv

The actor in the audit log is `cli:<operating-system user>`."""
from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy.exc import IntegrityError

from bot.context import Ctx, Services
from bot.protocol.csvimport import Problems, parse_date


def _date(text: str) -> date:
    try:
        return parse_date(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use 2025-04-01 or 01/04/2025)") from None


def actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"[:32]
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "cli:unknown"


def default_period(today: date) -> tuple[date, date]:
    """The last 12 months up to and including `today`."""
    try:
        start = today.replace(year=today.year - 1)
    except ValueError:  # 29 February
        start = today.replace(year=today.year - 1, day=28)
    return start + timedelta(days=1), today


def register(sub) -> None:
    p = sub.add_parser("import", help="import a CSV of past episodes (all or nothing; re-importing changes nothing)")
    p.add_argument("file", type=Path, help="the CSV file (see README, Importing history)")
    p.set_defaults(func=_import)

    p = sub.add_parser("report", help="the board figures for a period (JSON, CSV or Markdown; PNG charts)")
    p.add_argument("--from", dest="period_from", type=_date, metavar="DATE",
                   help="first day (default: 12 months before the last day)")
    p.add_argument("--to", dest="period_to", type=_date, metavar="DATE", help="last day, inclusive (default: today)")
    p.add_argument("--format", choices=("json", "csv", "md"), default="json")
    p.add_argument("--charts", type=Path, metavar="DIR", help="also write PNG charts into DIR")
    p.add_argument("--looked-after-only", action="store_true", help="count looked-after children only")
    p.add_argument("--output", "-o", type=Path, metavar="FILE", help="write to FILE instead of standard output")
    p.set_defaults(func=_report)

    p = sub.add_parser("export", help="statutory returns: ssda903 (DfE Missing table) or annex-a (Ofsted List 8)")
    esub = p.add_subparsers(dest="export_kind", required=True, metavar="KIND")
    e = esub.add_parser("ssda903", help="the SSDA903 Missing table for a collection year (1 April - 31 March)")
    e.add_argument("--year", type=int, required=True, help="the year the collection starts: 2025 = April 2025 - March 2026")
    e.add_argument("--output", "-o", type=Path, metavar="FILE")
    e.set_defaults(func=_export_ssda903)
    e = esub.add_parser("annex-a", help="Ofsted Annex A List 8 missing columns for each child we look after")
    e.add_argument("--output", "-o", type=Path, metavar="FILE")
    e.set_defaults(func=_export_annex_a)


def _write(text: str, output: Path | None) -> bool:
    """Write to `output` (or standard output); False, with a message, when it cannot be written."""
    if output is None:
        sys.stdout.write(text)
        return True
    try:
        output.write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        print(f"missing-bot: cannot write {output}: {exc.strerror}", file=sys.stderr)
        return False
    print(f"wrote {output}", file=sys.stderr)
    return True


def _import(args, services: Services) -> int:
    from store.imports import import_csv

    try:
        source = args.file.open("rb")  # read as a stream: any size
    except OSError as exc:
        print(f"missing-bot import: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        with source, services.sessions.begin() as session:
            ctx = Ctx(services=services, session=session, user_id=actor(), channel_id="", now=services.now(),
                      is_admin=True)
            result = import_csv(ctx, source)
    except Problems as exc:
        for problem in exc.problems:
            print(f"{args.file.name}: {problem}", file=sys.stderr)
        print(f"missing-bot import: nothing was imported ({exc.total} problem(s))", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"missing-bot import: cannot read {args.file}: {exc.strerror}; nothing was imported", file=sys.stderr)
        return 1
    except IntegrityError:
        # Someone recorded an episode for one of these children while the file was being checked.
        print("missing-bot import: the record changed while importing; nothing was imported. Run it again.",
              file=sys.stderr)
        return 1
    services.on_enqueued()
    print(f"imported {args.file.name}: {result.summary()}")
    return 0


def load_figures(session, services: Services, period_from: date, period_to: date, looked_after_only: bool = False,
                 now: datetime | None = None) -> dict:
    """The board figures of a period: live episodes started in it, meetings held in it, and the
    count of withdrawn episodes (the only figure that reads them). Each episode's keys come from
    the database packed (store/figures.py `stream_packed`), the tables from `tally_packed`."""
    from bot.protocol.figures import Vocab, period_bounds, tally_packed
    from store.figures import (OutsideVocab, child_refs, first_starts, found_firsts, held_between, packed_vocab,
                               placing_councils, stream_packed, withdrawn_started_between)

    if period_to < period_from:
        raise ValueError("the period ends before it starts")
    now = now or services.now()
    start, end = period_bounds(period_from, period_to, services.zone)

    def tally(vocab: Vocab) -> dict:
        rows = stream_packed(session, start, end, services.zone, services.protocol.interview_hours, now, vocab,
                             looked_after_only=looked_after_only)
        return tally_packed(rows, vocab, period_from, period_to, services.protocol, zone=services.zone,
                            refs=child_refs(session),
                            first_starts=first_starts(session, start, end, looked_after_only=looked_after_only),
                            found_first=found_firsts(session, start, end, looked_after_only=looked_after_only),
                            councils=placing_councils(session),
                            meetings=held_between(session, start, end, looked_after_only=looked_after_only),
                            withdrawn=withdrawn_started_between(session, start, end,
                                                                looked_after_only=looked_after_only))

    try:
        return tally(Vocab())  # the protocol's codes: what the bot records
    except OutsideVocab:  # older or imported values besides them: numbered from the record (one more scan)
        return tally(packed_vocab(session, start, end))


def _audit_read(session, services: Services, action: str, after: dict) -> None:
    from store.audit import audit

    audit(session, actor=actor(), action=action, entity="export", entity_id=None, now=services.now(), after=after)


def _report(args, services: Services) -> int:
    from bot.protocol.figures import to_csv, to_markdown

    period_to = args.period_to or services.now().astimezone(services.zone).date()
    period_from = args.period_from or default_period(period_to)[0]
    if period_to < period_from:
        print("missing-bot report: --to is before --from", file=sys.stderr)
        return 2
    with services.sessions.begin() as session:
        fig = load_figures(session, services, period_from, period_to, args.looked_after_only)
        _audit_read(session, services, "report", {"from": period_from.isoformat(), "to": period_to.isoformat(),
                                                  "format": args.format})
    text = {"json": lambda f: json.dumps(f, indent=2) + "\n", "csv": to_csv, "md": to_markdown}[args.format](fig)
    if not _write(text, args.output):
        return 1
    if args.charts:
        from bot.charts import write_charts

        try:
            paths = write_charts(fig, args.charts)
        except OSError as exc:
            print(f"missing-bot: cannot write the charts into {args.charts}: {exc.strerror}", file=sys.stderr)
            return 1
        for path in paths:
            print(f"wrote {path}", file=sys.stderr)
    return 0


def _export_ssda903(args, services: Services) -> int:
    from bot.protocol.exports import CHECKS_HINT, ssda903_csv
    from store.figures import ssda903_rows

    if not 2000 <= args.year <= 2100:
        print("missing-bot export: --year is the year the collection starts, e.g. 2025", file=sys.stderr)
        return 2
    with services.sessions.begin() as session:
        rows, findings = ssda903_rows(session, args.year, services.zone)
        _audit_read(session, services, "export.ssda903", {"year": args.year, "rows": len(rows)})
    if not _write(ssda903_csv(rows), args.output):
        return 1
    if findings is None:  # the optional validator is not installed: the file is written, unchecked
        print(CHECKS_HINT, file=sys.stderr)
        return 0
    for finding in findings:
        print(f"SSDA903 check: {finding}", file=sys.stderr)
    if findings:
        print(f"missing-bot export: {len(findings)} finding(s) against the DfE rules; fix the record before "
              f"submitting", file=sys.stderr)
        return 1
    print(f"SSDA903 Missing {args.year}/{(args.year + 1) % 100:02d}: {len(rows)} rows, passes the DfE checks",
          file=sys.stderr)
    return 0


def _export_annex_a(args, services: Services) -> int:
    from bot.protocol.exports import annex_a_csv
    from store.figures import annex_a_rows

    with services.sessions.begin() as session:
        rows = annex_a_rows(session, services.now(), council=services.protocol.council, zone=services.zone)
        _audit_read(session, services, "export.annex_a", {"rows": len(rows)})
    return 0 if _write(annex_a_csv(rows), args.output) else 1
