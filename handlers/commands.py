"""The `/missing` router: one place that turns a line of text into a reply.

Bolt, the console and the tests all come through `run_command`. It finds the subcommand,
checks admin rights, runs the handler in one transaction, and maps every failure to a
friendly reply: a `Refusal` says what was wrong with an example; anything unexpected is
logged with a reference (never the child's details) and the user is told nothing changed."""
from __future__ import annotations

import logging
import re
import traceback
import uuid

from sqlalchemy.exc import IntegrityError, OperationalError

from bot.auth import ADMIN_REFUSAL
from bot.context import Ctx, Services
from bot.protocol.words import Refusal
from handlers.registry import ORDER, Reply, find, refusal_text
from store.outbox import queued

log = logging.getLogger(__name__)

# Importing the areas registers their subcommands, in the order `/missing help` lists them.
from handlers import record, corrections, views, clock, meetings, figures, imports, audit  # noqa: E402,F401,I001


def log_failure(where: str, exc: BaseException) -> str:
    """Log an unexpected error by type and code location only: exception messages can carry data."""
    ref = uuid.uuid4().hex[:8]
    frames = traceback.extract_tb(exc.__traceback__)
    trail = " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in reversed(frames[-6:]))
    log.error("error ref=%s in %s: %s at %s", ref, where, type(exc).__name__, trail)
    return ref


def unknown(word: str) -> Reply:
    names = ", ".join(f"`{n}`" for n in ORDER)
    return Reply(f":grey_question: I don't know `{word[:30]}`. Try one of {names}, or `/missing help`.")


def run_command(services: Services, *, user_id: str, channel_id: str, text: str, is_admin: bool,
                trigger_id: str | None = None) -> Reply:
    # Slack sends `&` in command text as `&amp;`: read it as typed. `&lt;`/`&gt;` stay escaped, so nothing
    # typed turns into Slack markup when echoed. Text copied from a web page brings non-breaking spaces.
    text = re.sub(r"\s+", " ", (text or "").replace("&amp;", "&")).strip()
    word, _, rest = text.partition(" ")
    entry = find(word or "help")
    if entry is None:
        return unknown(word)
    if entry.admin and not is_admin:
        return Reply(ADMIN_REFUSAL)
    try:
        with (services.reads if entry.read_only else services.sessions).begin() as session:
            ctx = Ctx(services=services, session=session, user_id=user_id, channel_id=channel_id,
                      now=services.now(), is_admin=is_admin, trigger_id=trigger_id)
            reply = entry.handler(ctx, rest.strip())
            wake = queued(session)
    except Refusal as exc:
        return Reply(refusal_text(exc, entry.examples[0] if entry.examples else ""))
    except IntegrityError:
        # The database refused a second copy: a double submission or a race with a colleague.
        return Reply(":warning: That was just recorded by someone else (or sent twice). Nothing more was changed; "
                     "check with `/missing status <child-ref>`.")
    except OperationalError as exc:
        ref = log_failure(f"/missing {entry.name}", exc)
        return Reply(f":warning: The database is busy or unavailable (ref {ref}). Nothing was changed; try again in a minute.")
    except Exception as exc:  # noqa: BLE001 - one place maps every failure to a reply
        ref = log_failure(f"/missing {entry.name}", exc)
        return Reply(f":warning: Sorry, something went wrong (ref {ref}). Nothing was changed. "
                     "Try again, or tell your administrator the reference.")
    if wake:  # only a change that queued a message has anything for the deliverer
        services.on_enqueued()
    return reply
