"""`missing-bot agenda` and `missing-bot meetings ics`: the meeting area from a terminal."""
from __future__ import annotations

import sys
from datetime import datetime, time, timezone

# The meeting area's modules (icalendar, the store's meetings and what they load) are imported by
# these commands only: every other command, e.g. `import`, starts without them.


def register(sub) -> None:
    p = sub.add_parser("agenda", help="print the agenda of a meeting (Markdown or HTML)")
    p.add_argument("--series", default="", help="series name or #id (default: the only one)")
    p.add_argument("--date", default="", help="meeting date, e.g. 2026-12-17 (default: the next meeting)")
    p.add_argument("--html", action="store_true", help="HTML instead of Markdown")
    p.set_defaults(func=cmd_agenda)
    m = sub.add_parser("meetings", help="meeting series: print the calendar")
    m.add_argument("what", choices=["ics"], help="ics: every series as one iCalendar feed on stdout")
    m.set_defaults(func=cmd_ics)


def _pick(session, text: str):
    from store import meetings as sm

    live = sm.all_series(session)
    if not text and len(live) == 1:
        return live[0]
    return sm.find_series(session, text) if text else None


def cmd_agenda(args, services) -> int:
    from bot.protocol import agenda as ag
    from bot.protocol import meetings as pm
    from bot.render import local
    from store import meetings as sm

    now = services.now()
    with services.sessions.begin() as s:
        sm.sync_protocol(s, services.protocol, now=now, channel=services.settings.alert_channel)
    with services.sessions() as s:
        series = _pick(s, args.series)
        if series is None:
            names = ", ".join(f"{x.name} (#{x.id})" for x in sm.all_series(s))
            if not names:
                print("missing-bot: no meeting series is set up yet: use /missing meeting setup in Slack, or "
                      "[[meetings]] in the protocol file (README, Monitoring meetings)", file=sys.stderr)
            else:
                print(f"missing-bot: say which series with --series ({names})", file=sys.stderr)
            return 2
        spec = series.spec
        if args.date:
            day = pm.parse_day(args.date, now.astimezone(spec.zone).date())
            if day is None:
                print(f"missing-bot: {args.date!r} is not a date (e.g. 2026-12-17 or 17/12/2026)", file=sys.stderr)
                return 2
            found = pm.occurrences(spec, series.dtstart, datetime.combine(day, time(0), tzinfo=spec.zone),
                                   datetime.combine(day, time(23, 59), tzinfo=spec.zone))
            if not found:
                print(f"missing-bot: {series.name} does not meet on {args.date}", file=sys.stderr)
                return 2
            start = found[0]
            if start.astimezone(timezone.utc) in series.skip():
                print(f"missing-bot: the {series.name} of {args.date} is cancelled", file=sys.stderr)
                return 2
        else:
            start = pm.next_occurrence(spec, series.dtstart, now, series.skip())
            if start is None:
                print(f"missing-bot: {series.name} has no more meetings", file=sys.stderr)
                return 2
        built = sm.build_agenda(s, series, start, protocol=services.protocol, now=now)
        if built.period_start > now:
            print(f"missing-bot: the agenda of {args.date} reviews from {local(built.period_start, spec.zone)}, "
                  "which has not come yet", file=sys.stderr)
            return 2
    print(ag.to_html(built) if args.html else ag.to_markdown(built))
    return 0


def cmd_ics(args, services) -> int:
    from bot import ics
    from store import meetings as sm

    with services.sessions() as s:
        data = [sm.series_data(x) for x in sm.all_series(s)]
    sys.stdout.write(ics.feed(data).decode())
    return 0
