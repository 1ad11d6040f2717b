"""One mapping from a failure to what the user is told, for every entry point: commands,
buttons, forms (as a field error) and the import.

A `Refusal` says what was wrong with an example; the database refusing a second copy is a
double submission or a race; a busy database is said so; anything else is logged with a
reference (type and code location only, never the child's details) and the user is told
nothing changed."""
from __future__ import annotations

import logging
import traceback
import uuid

from sqlalchemy.exc import IntegrityError, OperationalError

from bot.protocol.words import Refusal
from handlers.registry import FieldErrors, Reply, refusal_text

log = logging.getLogger(__name__)

DUPLICATE = ("That was just recorded by someone else (or sent twice). Nothing more was changed; "
             "check with `/missing status <child-ref>`.")


def log_failure(where: str, exc: BaseException) -> str:
    """Log an unexpected error by type and code location only: exception messages can carry data."""
    ref = uuid.uuid4().hex[:8]
    frames = traceback.extract_tb(exc.__traceback__)
    trail = " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in reversed(frames[-6:]))
    log.error("error ref=%s in %s: %s at %s", ref, where, type(exc).__name__, trail)
    return ref


def failure_text(exc: BaseException, where: str, example: str = ""):
    """The answer to `exc` (raised while doing `where`), icon first."""
    if isinstance(exc, Refusal):
        return refusal_text(exc, example)
    if isinstance(exc, IntegrityError):
        return ":warning: " + DUPLICATE
    if isinstance(exc, OperationalError):
        ref = log_failure(where, exc)
        return f":warning: The database is busy or unavailable (ref {ref}). Nothing was changed; try again in a minute."
    ref = log_failure(where, exc)
    return (f":warning: Sorry, something went wrong (ref {ref}). Nothing was changed. "
            "Try again, or tell your administrator the reference.")


def failure_reply(exc: BaseException, where: str, example: str = "") -> Reply:
    return Reply(failure_text(exc, where, example))


def failure_fields(exc: BaseException, where: str, field: str) -> dict[str, str]:
    """The same answer as a form's field errors: `field` is the one every form of its kind has."""
    if isinstance(exc, FieldErrors):
        return exc.errors
    if isinstance(exc, Refusal):
        return {field: str(exc.message)}
    text = str(failure_text(exc, where)).removeprefix(":warning: ").replace("`", "")
    return {field: text}
