"""The Teams edge: `POST /api/messages` on the serve process, beside `/slack/events`.

The Teams SDK (handlers/teams/sdk.py) checks every activity's Bot Framework token (issuer, audience,
signing keys, expiry; our adapter adds: `exp` required, our tenant only) before these handlers run.
They are thin: who is asking, what they typed, then the same router as Slack and the console
(`handlers.commands.run_command`), and the answer rendered as an Adaptive Card (cards.py).

- A message in the personal chat (`report C1234 at 2h ago ...`) is answered in place.
- In a channel or group chat the bot is @mentioned (`@missing-bot status C1234`); Teams has no
  private answers there, so only a reply the router marks for the channel (case reference and
  label) is posted in it; anything else goes to the user's personal chat with the bot, and the
  channel gets a one-line pointer.
- `alerts here` (admins, in a channel): the bot stores the conversation (id, service URL, tenant)
  and the outbox posts alerts there (store/teams.py, scheduler/transports/teams.py).
- Card buttons are `Action.Execute`: the invoke carries the action id (verb) and value, and goes to
  the router's `ACTIONS` (`commands.press`); a form's Save carries the form and its inputs to
  `FORMS` (`commands.submit_form`). Forms are shown in the card itself (a command or button that
  opens one), with field errors beside the fields; the presser's card becomes the alert as it now
  is, and every posted copy (Teams and Slack) is replaced through the outbox's update rows.

Who may act: AUTHORIZED_USERS, MANAGER_USERS and ADMIN_USERS, which accept Entra object ids; the
bot's id for a Teams user is the object id as a lowercase GUID (bot.settings.entra_user_id)."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from microsoft_teams.api import AdaptiveCardInvokeActivity, MessageActivity, MessageActivityInput
from microsoft_teams.api.clients.conversation.params import CreateConversationParams
from microsoft_teams.api.models import Account, MentionEntity
from microsoft_teams.api.models.adaptive_card import (
    AdaptiveCardActionCardResponse,
    AdaptiveCardActionMessageResponse,
)
from microsoft_teams.apps import ActivityContext, App

from sqlalchemy import select

from bot.auth import ADMIN_REFUSAL, REFUSAL
from bot.context import Services
from bot.messages import CHANNEL, Message, Rich
from bot.settings import entra_user_id
from handlers.teams import cards, files
from handlers.teams.sdk import card_activity, cloud_for, new_app
from store import teams as directory
from store.audit import audit

log = logging.getLogger(__name__)

POINTER = "I've answered you in our personal chat (missing-bot in Chat)."
NO_PERSONAL = ("I could not open a personal chat with you to answer. Add missing-bot in Teams Chat "
               "(Apps > missing-bot > Add), then ask again there.")
ALERTS_HERE = re.compile(r"^alerts\s+here$", re.I)
WELCOME_PERSONAL = "missing-bot is ready. Type help for every command, e.g. status C1234."
WELCOME_TEAM = ("missing-bot was added. Mention it with a command, e.g. @missing-bot help; an administrator "
                "types @missing-bot alerts here in the channel that should get alerts.")


@dataclass(frozen=True)
class Who:
    """The person and the conversation an activity comes from."""

    user_id: str  # the bot's id for them (Entra object id, a lowercase GUID); "" when Teams sent none
    teams_user_id: str  # their 29: id in this tenant
    name: str | None
    conversation_id: str
    conversation_type: str  # personal | channel | groupChat
    service_url: str
    tenant_id: str

    @classmethod
    def of(cls, activity) -> "Who":
        aad = activity.from_.aad_object_id or ""
        try:
            user_id = entra_user_id(aad) if aad else ""
        except ValueError:
            user_id = ""
        conv = activity.conversation
        tenant = conv.tenant_id or ((activity.channel_data.tenant.id if activity.channel_data and
                                     activity.channel_data.tenant else None) or "")
        return cls(user_id, activity.from_.id, activity.from_.name, conv.id, conv.conversation_type or "personal",
                   activity.service_url, tenant)

    @property
    def personal(self) -> bool:
        return self.conversation_type == "personal"


def as_message(reply) -> Message:
    """The router's answer as a neutral message (a `Reply` is a `Message`; plain text is wrapped)."""
    if isinstance(reply, Message):
        return reply
    return Message(text=reply if isinstance(reply, (str, Rich)) else str(reply or ""))


class Edge:
    """The synchronous work of each activity (database, router), run off the event loop."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def allowed(self, user_id: str) -> bool:
        s = self.services.settings
        return bool(user_id) and (user_id in s.authorized_users or user_id in s.admin_users
                                  or user_id in s.manager_users)

    def remember(self, who: Who) -> None:
        now = self.services.now()
        with self.services.sessions.begin() as s:
            if who.user_id:
                directory.remember_user(s, aad_id=who.user_id, teams_user_id=who.teams_user_id, name=who.name,
                                        service_url=who.service_url, tenant_id=who.tenant_id, now=now,
                                        conversation_id=who.conversation_id if who.personal else None)
            if not who.personal:
                directory.remember_channel(s, conversation_id=who.conversation_id, kind=who.conversation_type,
                                           service_url=who.service_url, tenant_id=who.tenant_id, now=now)

    def forget(self, who: Who) -> None:
        if who.personal:
            return
        now = self.services.now()
        with self.services.sessions.begin() as s:
            row = directory.find(s, who.conversation_id)
            if row is not None and row.alerts:
                row.alerts, row.updated_at = False, now
                audit(s, actor=who.user_id or "teams", action="teams.removed", entity="teams_conversation",
                      entity_id=row.id, now=now, after={"platform": "teams", "alerts": False})

    def people(self, mentions: list[tuple[str, str, str | None]]) -> dict[str, str]:
        """Teams account id -> the bot's id for the person, for colleagues @mentioned in a command:
        the Entra object id Teams put in the mention, or the one stored when they wrote to the bot."""
        out: dict[str, str] = {}
        with self.services.sessions() as s:
            for _, account, aad in mentions:
                if aad:
                    try:
                        out[account] = entra_user_id(aad)
                    except ValueError:
                        pass
                    continue
                known = s.scalar(select(directory.TeamsConversation.aad_id)
                                 .where(directory.TeamsConversation.teams_user_id == account).limit(1))
                if known:
                    out[account] = known
        return out

    def names(self) -> dict[str, str]:
        with self.services.sessions() as s:
            return directory.names(s)

    def personal_chat(self, user_id: str) -> str | None:
        with self.services.sessions() as s:
            row = directory.find(s, user_id) if user_id else None
            return row.conversation_id if row is not None else None

    def set_personal_chat(self, who: Who, conversation_id: str) -> None:
        with self.services.sessions.begin() as s:
            directory.remember_user(s, aad_id=who.user_id, teams_user_id=who.teams_user_id, name=who.name,
                                    service_url=who.service_url, tenant_id=who.tenant_id, now=self.services.now(),
                                    conversation_id=conversation_id)

    def command(self, who: Who, text: str) -> Message:
        from handlers.commands import run_command

        self.remember(who)
        if not self.allowed(who.user_id):
            log.info("teams: refused an unauthorised message")
            return Message(text=REFUSAL)
        is_admin = self.services.settings.is_admin(who.user_id)
        if ALERTS_HERE.match(text):
            return self.alerts_here(who, is_admin)
        reply = run_command(self.services, user_id=who.user_id, channel_id=directory.channel_of(who.conversation_id),
                            text=text, is_admin=is_admin)
        return as_message(reply)

    def alerts_here(self, who: Who, is_admin: bool) -> Message:
        if not is_admin:
            return Message(text=ADMIN_REFUSAL)
        if who.personal:
            return Message(text=":warning: Type `alerts here` in the team channel that should get alerts, "
                                "mentioning the bot: `@missing-bot alerts here`.")
        now = self.services.now()
        with self.services.sessions.begin() as s:
            row = directory.remember_channel(s, conversation_id=who.conversation_id, kind=who.conversation_type,
                                             service_url=who.service_url, tenant_id=who.tenant_id, now=now,
                                             alerts=True)
            audit(s, actor=who.user_id, action="teams.alerts_here", entity="teams_conversation", entity_id=row.id,
                  now=now, after={"platform": "teams", "kind": row.kind, "alerts": True})
        return Message(text=":white_check_mark: Alerts will be posted in this channel.", visibility=CHANNEL)

    def execute(self, who: Who, verb: str, data: dict, conversation_id: str = "") -> Message | str:
        """An Action.Execute press, through the neutral router's tables: a button (`ACTIONS`, e.g.
        Acknowledge) or a form's Save (`FORMS`). Returns what the presser's card becomes: the alert
        as it now is, a form (with its errors), a reply, or a line of text."""
        from handlers import commands

        self.remember(who)
        if not self.allowed(who.user_id):
            return REFUSAL
        is_admin = self.services.settings.is_admin(who.user_id)
        if verb in commands.FORMS:
            form = cards.form_from_json(data.get("form"))
            if form is None or form.id != verb:
                return "That form is not known to this version of the bot."
            values = cards.form_values(form, data, self.services.zone)
            outcome = commands.submit_form(self.services, form_id=verb, values=values, meta=form.meta,
                                           user_id=who.user_id, is_admin=is_admin)
            if outcome.errors:  # nothing saved: the form again, as filled in, with what was wrong
                for f in form.fields:
                    if f.name in values:
                        f.initial = values[f.name]
                form.errors = dict(outcome.errors)
                return Message(form=form)
            return self._after(_alert_of(form.meta), outcome.reply)
        if verb in commands.ACTIONS:
            value = str(data.get("value") or "")
            outcome = commands.press(self.services, action_id=verb, value=value, user_id=who.user_id,
                                     channel_id=directory.channel_of(conversation_id), is_admin=is_admin)
            if outcome.form is not None:
                return Message(form=outcome.form)
            return self._after(int(value) if value.isdigit() else None, outcome.reply)
        return "That button is not known to this version of the bot."

    def _after(self, alert_id: int | None, reply: Message | None) -> Message | str:
        """The alert a button or form was about, as it now is (its copies are updated through the
        outbox by the handler), with the handler's answer as a note; else the answer."""
        from store import alerts

        msg = None
        if alert_id is not None:
            with self.services.sessions() as s:
                msg = alerts.alert_message(s, alert_id, self.services.protocol, self.services.zone, visibility=CHANNEL)
        if msg is None:
            return reply if reply is not None else "Done."
        if reply is not None and reply.text:
            msg.notes = [*msg.notes, reply.text]
        return msg


def _alert_of(meta: str) -> int | None:
    import json

    try:
        value = json.loads(meta or "{}").get("alert")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None


def mount(web: FastAPI, services: Services) -> App:
    """Register `POST /api/messages` on `web` and the handlers; returns the initialised App."""
    s = services.settings
    edge = Edge(services)
    files.mount(web, services)  # GET /teams/files/...: signed download links for files in personal chats
    app = new_app(client_id=s.teams_client_id, client_secret=s.teams_client_secret, tenant_id=s.teams_tenant_id,
                  cloud=cloud_for(s), token_url=s.teams_token_url, web=web, allow_unauthenticated=s.teams_dev_no_auth)

    async def send_personal(ctx, who: Who, activity: MessageActivityInput) -> bool:
        """Send to the user's personal chat with the bot, opening it when needed."""
        conversation_id = await run_in_threadpool(edge.personal_chat, who.user_id)
        try:
            if not conversation_id:
                api = ctx.api.clone(service_url=who.service_url)
                resource = await api.conversations.create(CreateConversationParams(
                    members=[Account(id=who.teams_user_id)], tenant_id=who.tenant_id, isGroup=False,
                    bot=Account(id=ctx.activity.recipient.id), channel_data={"tenant": {"id": who.tenant_id}}))
                conversation_id = resource.id
                await run_in_threadpool(edge.set_personal_chat, who, conversation_id)
            await app.send(conversation_id, activity, service_url=who.service_url)
            return True
        except Exception as exc:  # noqa: BLE001 - the user is told in the channel, without the content
            log.warning("teams: could not reach a personal chat: %s", type(exc).__name__)
            return False

    @app.on_message
    async def on_message(ctx: ActivityContext[MessageActivity]) -> None:
        activity = ctx.activity
        who = Who.of(activity)
        mentions = [(e.text or f"<at>{e.mentioned.name}</at>", e.mentioned.id, e.mentioned.aad_object_id)
                    for e in activity.entities or [] if isinstance(e, MentionEntity)]
        people = await run_in_threadpool(edge.people, [m for m in mentions if m[1] != activity.recipient.id])
        text = activity.text or ""
        for tag, account, _ in mentions:
            # The bot's own mention goes; a colleague's becomes their id (`child C1 worker @<id>`), or
            # their name as typed when the bot has never heard from them (the grammar then refuses it).
            if account == activity.recipient.id:
                text = text.replace(tag, " ")
            else:
                text = text.replace(tag, f"@{people[account]}" if account in people else
                                    tag.replace("<at>", "").replace("</at>", ""))
        text = " ".join(text.replace("&nbsp;", " ").split())
        try:
            msg = await run_in_threadpool(edge.command, who, text)
        except Exception as exc:  # noqa: BLE001 - the router maps its own failures; this is the edge's
            from handlers.commands import log_failure

            msg = Message(text=f":warning: Sorry, something went wrong (ref {log_failure('teams message', exc)}). "
                               "Try again, or tell your administrator the reference.")
        names = await run_in_threadpool(edge.names)
        # A command that opens a form (a new child's report, meeting setup): the form in the card.
        card = cards.form_card(msg.form, execute=True, zone=services.zone) if msg.form is not None \
            else cards.card(msg, names=names)
        answer = card_activity(card, summary=msg.summary() or (msg.form.title if msg.form else None))
        try:
            if who.personal or msg.visibility == CHANNEL:
                await ctx.send(answer)
                return
            # A channel: everything not marked for the channel goes to the personal chat.
            reached = await send_personal(ctx, who, answer)
            await ctx.send(MessageActivityInput(text=POINTER if reached else NO_PERSONAL))
        except Exception as exc:  # noqa: BLE001 - the command ran; Teams would show a 500 as "not sent"
            log.warning("teams: could not send the answer: %s", type(exc).__name__)

    @app.on_install_add
    async def on_install(ctx) -> None:
        """Added to a personal chat, a team or a group chat: remember where, and say how to start."""
        who = Who.of(ctx.activity)
        await run_in_threadpool(edge.remember, who)
        try:
            await ctx.send(MessageActivityInput(text=WELCOME_PERSONAL if who.personal else WELCOME_TEAM))
        except Exception as exc:  # noqa: BLE001
            log.warning("teams: could not send the welcome: %s", type(exc).__name__)

    @app.on_install_remove
    async def on_uninstall(ctx) -> None:
        """Removed from a team or chat: alerts stop going there (they would be refused with 403)."""
        await run_in_threadpool(edge.forget, Who.of(ctx.activity))

    @app.on_card_action_execute
    async def on_execute(ctx: ActivityContext[AdaptiveCardInvokeActivity]):
        activity = ctx.activity
        who = Who.of(activity)
        action = activity.value.action
        data = action.data if isinstance(action.data, dict) else {}
        outcome = await run_in_threadpool(edge.execute, who, action.verb or data.get("action") or "", data,
                                          activity.conversation.id)
        if isinstance(outcome, str):
            return AdaptiveCardActionMessageResponse(value=cards.escape(outcome))
        if outcome.form is not None:  # a form in the card, for the presser only
            return AdaptiveCardActionCardResponse(value=cards.form_card(outcome.form, execute=True,
                                                                        zone=services.zone))
        # The answer replaces the card for the presser; the outbox's update rows replace it for everyone.
        card = cards.card(outcome, names=await run_in_threadpool(edge.names))
        return AdaptiveCardActionCardResponse(value=card)

    return app


def initialise(app: App) -> None:
    """Initialise the SDK (registers the route) from synchronous start-up code."""
    import asyncio

    asyncio.run(app.initialize())

