"""Children across council boundaries: the record's side (see bot/protocol/councils.py for the rules).

Called inside the change's transaction: `derive` by records.upsert_child, `notification_due` by
the alert hooks when an episode opens or closes. The notification is an alert (stored once under
its key, posted to the team channel with a *Notified* button); when `SMTP_URL` is set and the
protocol file gives the council's email, an email to that council (from SMTP_FROM, replies to
`notify_from`) is an outbox row of the same transaction, keyed per episode and event, so it goes
exactly once."""
from __future__ import annotations

from typing import TYPE_CHECKING

from bot import mail
from bot.protocol import councils as rules
from bot.render import local, who
from store.audit import audit
from store.models import Child, Episode
from store.outbox import enqueue

if TYPE_CHECKING:  # pragma: no cover
    from bot.context import Ctx

EMAIL_CHANNEL = "email"  # scheduler/delivery.py EMAIL: rows sent by SMTP_URL


def derive(child: Child, fields: dict) -> None:
    """`out_of_area` is derived: placed by or in another council. One council at a time: naming
    one clears the other; `out_of_area` no clears both."""
    if fields.get("placed_by"):
        child.placed_in = None
    if fields.get("placed_in"):
        child.placed_by = None
    if fields.get("out_of_area") is False:
        child.placed_by = child.placed_in = None
    if child.placed_by or child.placed_in:
        child.out_of_area = True
    elif "placed_by" in fields or "placed_in" in fields:
        child.out_of_area = bool(fields.get("out_of_area"))


def _email(ctx: "Ctx", child: Child, episode: Episode, event: str, council: str, address: str) -> bool:
    """Queue the email to the placing council; False when email is not set up. From the bot's own
    address (SMTP_FROM); replies go to `notify_from` (e.g. the missing coordinator) when set."""
    if not (ctx.settings.smtp_url and address):
        return False
    contact = ctx.protocol.notify_from
    reply_to = (contact.name, contact.email) if contact else None
    ours = ctx.protocol.council or "our area"
    if event == "missing":
        subject = f"Your looked-after child placed in {ours} is missing: our ref {child.child_ref}"
        body = (f"A child your council placed in {ours} (our case reference {child.child_ref}, {child.label}) "
                f"was reported missing at {local(episode.started_at, ctx.zone)}.")
    else:
        subject = f"Your looked-after child placed in {ours} has returned: our ref {child.child_ref}"
        body = (f"The child your council placed in {ours} (our case reference {child.child_ref}, {child.label}) "
                f"returned at {local(episode.returned_at, ctx.zone)}. The return interview is yours to arrange.")
    if contact:
        body += f"\n\nPlease contact {contact.name or contact.email} <{contact.email}> for the details."
    else:
        body += "\n\nPlease contact our children's services for the details."
    msg = mail.plain_message(sender=ctx.settings.bot_address, recipients=[(council, address)], subject=subject,
                             text=body, now=ctx.now, reply_to=reply_to)
    if enqueue(ctx.session, key=f"council-email:{episode.id}:{event}", kind="council.email", channel=EMAIL_CHANNEL,
               text=subject, now=ctx.now, child_id=child.id, episode_id=episode.id, payload={"email": msg.as_string()}):
        # Telling another organisation about a child is a disclosure: recorded like any change.
        audit(ctx.session, actor=ctx.user_id, action="council.emailed", entity="episode", entity_id=episode.id,
              now=ctx.now, after={"council": council, "email": address, "event": event})
    return True


def notification_due(ctx: "Ctx", child: Child, episode: Episode, ep, event: str):
    """A placed-by child went missing or returned, or a placed-in child went missing: the alert
    asking the team to tell that council (store/alerts.py fires it), and the email when it is set up."""
    due = rules.notify_due(ep, event, placed_by=child.placed_by, placed_in=child.placed_in, protocol=ctx.protocol,
                           now=ctx.now)
    if due is None:
        return None
    if due.detail["role"] == "placing" and _email(ctx, child, episode, event, due.detail["council"],
                                                  due.detail["email"]):
        due.detail["emailed"] = due.detail["email"]
    return due


def notified_audit(alert) -> dict:
    """What the audit row of a pressed *Notified* button records: whom the team told."""
    d = alert.detail or {}
    return {"council": d.get("council"), "role": d.get("role"), "event": d.get("event"),
            "email": d.get("email") or None, "phone": d.get("phone") or None}
