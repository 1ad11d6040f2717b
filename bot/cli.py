"""`missing-bot`: run, serve, console, db upgrade, and the subcommands areas add."""
from __future__ import annotations

import argparse
import logging
import sys
import threading

from bot.settings import SettingsError, load_settings, require

# Areas add their subcommands with `register(subparsers)`; each parser sets `func(args, services)`.
from bot import cli_clock, cli_figures, cli_meetings, cli_privacy, cli_teams  # noqa: E402


def _logging(level: str) -> None:
    from bot.logs import configure

    configure(level)  # one line per record; nothing a library might quote from a request (bot/logs.py)
    # Bolt reads SLACK_BOT_TOKEN from the environment itself and warns that the bot's own client
    # wins; that is intended, and the warning only confuses whoever reads the start-up log.
    logging.getLogger("slack_bolt.App").addFilter(lambda record: "will be unused" not in record.getMessage())


def _build_app(services, *, verified_by_edge: bool = False):
    from handlers.slack.start import start_app

    return start_app(services, verified_by_edge=verified_by_edge)


def _start_background(services):
    from scheduler.jobs import start_scheduler

    return start_scheduler(services)


def cmd_run(args, settings) -> int:
    from bot.context import build_services

    if not settings.slack_app_token:
        return cmd_serve(args, settings)
    require(settings, "slack_bot_token", "alert_channel")
    from handlers.slack.start import connect_socket_mode

    services = build_services(settings)
    connect_socket_mode(_build_app(services), settings)  # a refused app token stops start-up here
    _start_background(services)
    logging.getLogger("missing-bot").info("connected to Slack in Socket Mode")
    threading.Event().wait()  # what SocketModeHandler.start() does after connecting
    return 0


def cmd_serve(args, settings) -> int:
    from bot.context import build_services
    from bot.serve import serve

    # Slack and Teams side by side, or either alone (Teams alone: no SLACK_* setting given).
    slack = not settings.teams_enabled or bool(settings.slack_bot_token or settings.slack_signing_secret)
    if slack:
        require(settings, "slack_bot_token", "slack_signing_secret", "alert_channel")
    services = build_services(settings)
    app = _build_app(services, verified_by_edge=True) if slack else None  # behind bot/edge.py
    _start_background(services)
    host = getattr(args, "host", "127.0.0.1")
    port = getattr(args, "port", 3000)
    paths = (["/slack/events"] if slack else []) + (["/api/messages"] if settings.teams_enabled else [])
    logging.getLogger("missing-bot").info("listening on http://%s:%s (%s)", host, port, ", ".join(paths))
    serve(services, app, host, port)
    return 0


def cmd_console(args, settings) -> int:
    from bot.console import run_console

    logging.getLogger().setLevel(logging.WARNING)
    return run_console(settings, demo=args.demo, user=args.user, stdin=sys.stdin, stdout=sys.stdout)


def cmd_db(args, settings) -> int:
    from store.db import upgrade

    upgrade(settings.database_url)
    print(f"database is at the latest schema ({settings.database_url.split('@')[-1]})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="missing-bot", description="Children missing from home or care: the record, "
                                     "the protocol's clock, the monitoring meeting.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("run", help="connect to Slack (Socket Mode when SLACK_APP_TOKEN is set, else HTTP)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3000)
    p.set_defaults(handler=cmd_run)
    p = sub.add_parser("serve", help="HTTP mode: POST /slack/events, GET /healthz")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3000)
    p.set_defaults(handler=cmd_serve)
    p = sub.add_parser("console", help="the whole bot in a terminal, no Slack workspace needed")
    p.add_argument("--demo", action="store_true", help="use a fresh database with an invented sample")
    p.add_argument("--user", default="UCONSOLE1", help="the Slack user ID you act as (default UCONSOLE1)")
    p.set_defaults(handler=cmd_console)
    p = sub.add_parser("db", help="database administration")
    dbsub = p.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = dbsub.add_parser("upgrade", help="apply the Alembic migrations")
    up.set_defaults(handler=cmd_db)
    for area in (cli_clock, cli_figures, cli_meetings, cli_privacy, cli_teams):
        area.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        _logging(settings.log_level)
        if hasattr(args, "handler"):
            return args.handler(args, settings) or 0
        # An area's subcommand: it gets ready-built services.
        from bot.context import build_services

        if args.command == "tick":
            # Without these a sweep would mark alerts as fired with no message, or fail their
            # delivery for good (Slack answers not_authed): the same settings as `run`.
            require(settings, "slack_bot_token", "alert_channel")
        elif args.command == "import" and not settings.alert_channel:
            print("missing-bot: warning: ALERT_CHANNEL is not set: alerts this import makes due (e.g. a child "
                  "still missing) are recorded with no message, and will not be sent later; import with the bot's settings", file=sys.stderr)

        services = build_services(settings)
        try:
            return args.func(args, services) or 0
        finally:
            services.engine.dispose()
    except SettingsError as exc:
        print(exc.code, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
