"""Logging that cannot carry a request body, a reply or a child's details, one record per line.

Two rules, applied to every handler `configure` installs:
- Our own code logs only what it means to (ids, counts, error types and code locations; see
  handlers.commands.log_failure). Third-party libraries do not know what they hold: Bolt logs
  a rejected request's whole body at INFO, and slack_sdk logs every request and response
  (message texts included) at DEBUG. So records from those libraries below WARNING are
  dropped, and at WARNING and above only the logger's name and the level are kept, with the
  message withheld.
- Every record is one line: newlines and other control characters in the formatted record
  (arguments, tracebacks) are escaped, so nothing sent to the bot can forge a log line."""
from __future__ import annotations

import logging
import re

# Libraries whose messages may quote what was sent to or by Slack, or an HTTP request.
WITHHELD = ("slack_bolt", "slack_sdk", "urllib3", "httpx", "httpcore", "uvicorn", "fastapi", "starlette",
            "apscheduler", "sqlalchemy", "matplotlib", "PIL", "asyncio", "websockets", "aiosmtpd", "mail",
            "microsoft_teams", "msal", "jwt")  # the Teams SDK logs whole activities (message text) at DEBUG
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]")


def _escape(match: re.Match) -> str:
    ch = match.group(0)
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch, f"\\x{ord(ch):02x}")


def one_line(text: str) -> str:
    return _CONTROL.sub(_escape, text)


class WithholdThirdParty(logging.Filter):
    """Drops third-party records below WARNING; keeps only name and level of the others."""

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        if not any(name == p or name.startswith(p + ".") for p in WITHHELD):
            return True
        if record.levelno < logging.WARNING:
            return False
        exc = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else ""
        record.msg = "(message withheld: it may quote request or message data)" + (f" {exc}" if exc else "")
        record.args = None
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True


class OneLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return one_line(super().format(record))


FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def protect(handler: logging.Handler) -> logging.Handler:
    """Give `handler` the one-line formatter and the third-party filter."""
    handler.setFormatter(OneLineFormatter(FORMAT))
    if not any(isinstance(f, WithholdThirdParty) for f in handler.filters):
        handler.addFilter(WithholdThirdParty())
    return handler


def configure(level: str | int, handler: logging.Handler | None = None) -> logging.Handler:
    """The process's logging: one protected handler on the root logger (stderr by default)."""
    root = logging.getLogger()
    handler = protect(handler or logging.StreamHandler())
    for old in list(root.handlers):
        if getattr(old, "_missing_bot", False):
            root.removeHandler(old)
    handler._missing_bot = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return handler
