"""Files in Teams: signed, short-lived download links in the personal chat, served by the bot
(handlers/teams/files.py), through the real deliverer, the Teams transport and the serve process."""
from __future__ import annotations

import httpx
from sqlalchemy import select

from bot.platforms import TEAMS
from scheduler.delivery import deliver_due
from store.models import Outbox
from store.outbox import enqueue
from tests.teams import activities as acts
from tests.teams.fixtures import (  # noqa: F401 - fixtures
    CHANNEL, WORKER, WORKER_ID, _close_teams_clients, connector, issuer, server, settings,
)
from tests.teams.schemas import validate

INVITE = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"


def queue_file(services, clock, key: str, to: str) -> None:
    with services.sessions.begin() as s:
        enqueue(s, key=key, kind="meeting.invite", channel=to, platform=TEAMS, text="Your invite", now=clock(),
                payload={"file": {"filename": "invite.ics", "content": INVITE, "title": "Panel invite"}})


def sent_card(connector, conversation: str) -> dict:
    sent = [c for c in connector.delivered() if c.conversation_id == conversation and c.body.get("attachments")][-1]
    card = sent.body["attachments"][0]["content"]
    validate(card, "1.5")
    return card


def test_a_file_in_the_personal_chat_is_a_link_that_works_for_24_hours(server, issuer, connector, services, clock):
    services.settings.teams_public_url = server
    hello = acts.message("help", issuer=issuer, service_url=connector.url, user=WORKER)  # the worker's chat is known
    assert acts.post_signed(server, hello, issuer).status_code == 200
    chat = hello["conversation"]["id"]
    queue_file(services, clock, "f1", WORKER_ID)
    assert deliver_due(services) == 1
    card = sent_card(connector, chat)
    [button] = [a for b in card["body"] if b["type"] == "ActionSet" for a in b["actions"]]
    assert button["title"] == "Download invite.ics" and button["url"].startswith(f"{server}/teams/files/")
    resp = httpx.get(button["url"])
    assert resp.status_code == 200 and resp.text == INVITE
    assert resp.headers["content-disposition"] == 'attachment; filename="invite.ics"'
    assert resp.headers["content-type"].startswith("text/calendar")
    # Altered, forged or another file's link: refused; nothing served.
    url = button["url"]
    for bad in (url[:-1] + ("0" if url[-1] != "0" else "1"), url.replace("/0?", "/1?"), url.split("&sig=")[0],
                url.replace("exp=", "exp=9")):
        assert httpx.get(bad).status_code == 403, bad
    clock.advance(hours=24, minutes=1)
    assert httpx.get(url).status_code == 410


def test_a_file_for_a_channel_is_only_named(server, issuer, connector, services, clock):
    services.settings.teams_public_url = server
    with services.sessions.begin() as s:
        from store.teams import TeamsConversation

        s.add(TeamsConversation(kind="channel", conversation_id=CHANNEL, service_url=connector.url,
                                tenant_id=issuer.tenant_id, alerts=True, created_at=clock(), updated_at=clock()))
    queue_file(services, clock, "f2", CHANNEL)
    assert deliver_due(services) == 1
    card = sent_card(connector, CHANNEL)
    assert not [b for b in card["body"] if b["type"] == "ActionSet"]
    assert "/teams/files/" not in str(card) and "invite" in str(card).lower()
    with services.sessions() as s:
        row_id = s.scalar(select(Outbox.id).where(Outbox.key == "f2"))
    from handlers.teams.files import link

    # Even a correctly signed link to a channel's row is not served.
    forged = link(server, services.settings.teams_client_secret, row_id, 0, clock())
    assert httpx.get(forged).status_code == 404


def test_an_export_asked_for_in_teams_reaches_the_admins_personal_chat_as_a_link(server, issuer, connector, services):
    """`export annex-a` from Teams: the CSV goes to the asker's Teams personal chat (never a Slack
    conversations.open with a Teams id), as a download link that serves the file."""
    from tests.teams.fixtures import ADMIN, ADMIN_ID

    services.settings.teams_public_url = server
    asked = acts.message("export annex-a", issuer=issuer, service_url=connector.url, user=ADMIN)
    assert acts.post_signed(server, asked, issuer).status_code == 200
    deliver_due(services)
    with services.sessions() as s:
        [row] = s.scalars(select(Outbox).where(Outbox.kind == "figures.export")).all()
    assert (row.platform, row.address, row.status) == (TEAMS, ADMIN_ID, "sent")
    cards = [c.body["attachments"][0]["content"] for c in connector.delivered()
             if c.conversation_id == asked["conversation"]["id"] and c.body.get("attachments")]
    [button] = [a for card in cards for b in card["body"] if b["type"] == "ActionSet" for a in b["actions"]]
    assert button["title"].startswith("Download") and button["url"].startswith(f"{server}/teams/files/")
    resp = httpx.get(button["url"])
    assert resp.status_code == 200 and "text/csv" in resp.headers["content-type"]
