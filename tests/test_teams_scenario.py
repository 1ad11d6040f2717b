"""The scenario of issue 10's parity test through Teams: report -> 24 h alert -> acknowledge -> found ->
reminder -> overdue -> interview, driven with signed activities through the real Teams SDK (the
personal chat for commands, the alert card's Acknowledge button in the channel chosen with
`alerts here`), ends in the same record, alerts, Slack deliveries and audit trail as through Slack.

What differs by platform is set aside, and said: the acting user's id (a Slack id, an Entra object
id), the `teams.alerts_here` audit row, and the rows that went to Teams (the alerts in the Teams
channel and their updates), which the Slack run has no channel for."""
from __future__ import annotations

from collections import Counter

from slack_sdk import WebClient
from sqlalchemy import create_engine, select

from bot.context import build_services
from bot.platforms import TEAMS
from handlers.clock import ACK
from scheduler.delivery import deliver_due
from scheduler.sweep import sweep
from store.alerts import Alert
from store.models import AuditRecord, Child, Episode, Outbox
from tests.conftest import ADMIN_USER, DUTY_USER, make_settings
from tests.teams import activities as acts
from tests.teams.fixtures import (  # noqa: F401 - fixtures
    ADMIN, CHANNEL, WORKER, WORKER_ID, _close_teams_clients, connector, issuer, run_server, teams_settings,
)
from tests.test_scenario_parity import SlackDriver, drop_database, scenario, second_database


class TeamsDriver:
    def __init__(self, url, services, issuer, connector):
        self.url, self.services, self.issuer, self.connector = url, services, issuer, connector

    def post(self, activity) -> None:
        resp = acts.post_signed(self.url, activity, self.issuer)
        assert resp.status_code == 200, resp.text

    def command(self, line: str) -> None:
        self.post(acts.message(line, issuer=self.issuer, service_url=self.connector.url, user=WORKER))
        assert "went wrong" not in str(self.connector.delivered()[-1].body)

    def tick(self) -> None:
        sweep(self.services, self.services.now())

    def acknowledge(self) -> None:
        for sent in reversed(self.connector.delivered()):
            if not sent.conversation_id.startswith(CHANNEL) or sent.method != "POST":
                continue
            for att in sent.body.get("attachments") or []:
                for action in att["content"].get("actions") or []:
                    if action.get("verb") == ACK:
                        with self.services.sessions() as s:
                            root = s.scalar(select(Outbox.sent_ref).where(
                                Outbox.platform == TEAMS, Outbox.alert_id == int(action["data"]["value"])))
                        self.post(acts.execute(ACK, action["data"], issuer=self.issuer, service_url=self.connector.url,
                                               conversation_id=CHANNEL, reply_to=root, user=WORKER))
                        return
        raise AssertionError("no alert card with an Acknowledge button reached the Teams channel")


def state(url: str, user: str) -> dict:
    """As the parity test's, with the acting user as USER, and without what only Teams has."""
    def who(value):
        return "USER" if value == user else value

    engine = create_engine(url)
    with engine.connect() as c:
        out = {
            "children": sorted(c.execute(select(Child.child_ref, Child.label, Child.looked_after)).all()),
            "episodes": sorted(tuple(who(v) for v in row) for row in c.execute(select(
                Episode.started_at, Episode.returned_at, Episode.risk_grade, Episode.found_location, Episode.ri_outcome,
                Episode.ri_at, Episode.ri_by, Episode.reported_by, Episode.returned_by, Episode.ri_recorded_by))),
            "alerts": sorted(tuple(who(v) for v in row) for row in c.execute(select(
                Alert.rule, Alert.variant, Alert.due_at, Alert.acknowledged_at, Alert.acknowledged_by))),
            "outbox": Counter((k, s) for k, s in c.execute(select(Outbox.kind, Outbox.status)
                                                           .where(Outbox.platform != TEAMS))),
            "audit": sorted((a, e, who(u), at) for a, e, u, at in c.execute(select(
                AuditRecord.action, AuditRecord.entity, AuditRecord.actor, AuditRecord.at)
                .where(AuditRecord.action != "teams.alerts_here"))),
        }
        teams_rows = Counter((k, s) for k, s in c.execute(select(Outbox.kind, Outbox.status)
                                                          .where(Outbox.platform == TEAMS)))
    engine.dispose()
    return out, teams_rows


def test_teams_and_slack_end_in_the_same_state(app, services, slack_stub, clock, db_url, tmp_path, pg_server_url,
                                               issuer, connector):
    from bot.serve import create_web_app
    from handlers.slack.app import build_app
    from tests.test_scenario_parity import START

    scenario(SlackDriver(app, services, slack_stub), clock)
    slack_state, _ = state(db_url, DUTY_USER)

    url = second_database(tmp_path, pg_server_url)
    clock.set(START)
    settings = make_settings(url, slack_stub, authorized_users=[DUTY_USER, ADMIN_USER, WORKER[2]],
                             admin_users=[ADMIN_USER, ADMIN[2]], **teams_settings(issuer))
    client = WebClient(token=settings.slack_bot_token, base_url=slack_stub.url, timeout=5)
    client.retry_handlers = []
    teams_services = build_services(settings, migrate=False, client=client, clock=clock)
    teams_services.on_enqueued = lambda: deliver_due(teams_services)
    server, srv, thread = run_server(create_web_app(teams_services, build_app(teams_services)))
    try:
        driver = TeamsDriver(server, teams_services, issuer, connector)
        driver.post(acts.mention("alerts here", issuer=issuer, service_url=connector.url, user=ADMIN))
        scenario(driver, clock)
        teams_state, teams_rows = state(url, WORKER_ID)
    finally:
        srv.should_exit = True
        thread.join(5)
        teams_services.engine.dispose()
        drop_database(url, pg_server_url)

    assert teams_state == slack_state
    # and Teams got the alerts (24 h, reminder, overdue) in its channel, and the acknowledged one updated
    assert teams_rows[("alert.long_missing", "sent")] == 1 and teams_rows[("update.alert", "sent")] >= 1
    assert {k for k, _ in teams_rows} >= {"alert.ri_reminder", "alert.ri_overdue"}
    assert all(status == "sent" for _, status in teams_rows)
