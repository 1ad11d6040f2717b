"""What keeps `/missing` at the framework's floor (issue 14), asserted as behaviour, never as time:
`status` answers in one query, reads take no write lock and leave the deliverer asleep."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select, text, update

from store.db import make_engine
from store.models import Child, Episode, Outbox
from tests.slack import command

# What `/missing status <child>` may cost: one SELECT for the child, its recent episodes, the
# latest one and whether any meeting was held about the child, and (only then) one for the
# meetings held about the episodes shown.
STATUS_QUERY_BUDGET = 1
STATUS_QUERY_BUDGET_HELD = 2
# What a change may cost inside its one transaction (BEGIN and COMMIT aside). `found`: the child with
# its lock, its open episode, the update, the audit row, the channel rule's read, the outbox row.
# `report`: the child with its lock, its live episodes (read once: the overlap check, the clock's
# checks and the count in the answer), the insert, the audit row, the channel rule's read, the
# outbox row, the persistence rules' last alerts; each alert it fires adds its own rows.
FOUND_STATEMENT_BUDGET = 6
REPORT_STATEMENT_BUDGET = 7
# ... a report crossing both persistence thresholds at once, its child owed two interviews whose
# alerts fired before: those two alerts' INSERT ... ON CONFLICT DO NOTHING (how the clock fires
# once), the two new alerts' rows and one UPDATE of their details (announced in one message), the
# channel rule's read, the message's outbox row, the Teams channels chosen for alerts.
REPORT_TWO_ALERTS_STATEMENT_BUDGET = 15


class Statements:
    """The SQL statements the bot's engine runs while in the `with` block (not BEGIN/COMMIT)."""

    def __init__(self, engine):
        self.engine = engine
        self.seen: list[str] = []

    def _record(self, conn, cursor, statement, parameters, context, executemany):
        if statement.split(None, 1)[0].upper() not in ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"):
            self.seen.append(statement)

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._record)


def test_status_answers_in_one_query_and_a_second_only_for_meetings_held(app, services, clock):
    command(app, "child C1234 label JB looked-after yes placement foster_care")
    command(app, "report C1234 at 2026-05-01 10:00")  # long before the last 90 days
    command(app, "found C1234 at 2026-05-01 20:00")
    with Statements(services.engine) as old_only:
        status = command(app, "status C1234")["text"]
    assert "Not missing now" in status and "*0* in the last 90 days" in status
    assert "Latest episode: Fri 01 May 2026 10:00 BST missing for 10h" in status
    assert len(old_only.seen) <= STATUS_QUERY_BUDGET, old_only.seen

    for day in (10, 12):
        command(app, f"report C1234 at 2026-11-{day:02d} 09:00")
        command(app, f"found C1234 at 2026-11-{day:02d} 12:00")
    command(app, "report C1234 at 2h ago risk high")
    with Statements(services.engine) as busy:
        status = command(app, "status C1234")["text"]
    assert "Missing now* for 2h" in status and "risk high" in status
    assert "*3* in the last 30 days, *3* in the last 90 days" in status
    assert status.count("• ") == 3 and "Latest episode" not in status
    assert len(busy.seen) <= STATUS_QUERY_BUDGET, busy.seen

    with services.sessions.begin() as s:  # all but May's recorded in error: withdrawn, out of every count
        s.execute(update(Episode).where(Episode.started_at > clock.now - timedelta(days=90))
                  .values(withdrawn_at=clock.now, withdrawn_by="UMANAGER", withdrawn_reason="wrong child"))
    with Statements(services.engine) as withdrawn:
        status = command(app, "status C1234")["text"]
    assert "Not missing now" in status and "Latest episode: Fri 01 May 2026" in status
    assert len(withdrawn.seen) <= STATUS_QUERY_BUDGET

    with Statements(services.engine) as unknown:
        assert "No child with case reference C9999" in command(app, "status C9999")["text"]
    assert len(unknown.seen) <= STATUS_QUERY_BUDGET

    command(app, "held C1234 strategy at 2026-05-01 15:00")  # about May's episode, the latest shown
    with Statements(services.engine) as held:
        status = command(app, "status C1234")["text"]
    assert "Latest episode: Fri 01 May 2026" in status and "Strategy meeting held Fri 01 May 2026 15:00" in status, status
    assert len(held.seen) <= STATUS_QUERY_BUDGET_HELD, held.seen


def test_report_and_found_stay_within_their_statement_budgets(app, services):
    services.on_enqueued = lambda: None  # the change's own statements, not the delivery after it
    command(app, "child C1234 label JB")
    with Statements(services.engine) as report:
        assert "Recorded" in command(app, "report C1234 at 3h ago risk medium")["text"]
    assert len(report.seen) <= REPORT_STATEMENT_BUDGET, report.seen
    with Statements(services.engine) as found:
        assert "returned" in command(app, "found C1234 at 2h ago")["text"]
    assert len(found.seen) <= FOUND_STATEMENT_BUDGET, found.seen

    command(app, "child C5678 label KL")
    for day in (10, 12):  # two earlier episodes in the last 30 days, reported late
        assert "Recorded" in command(app, f"report C5678 at 2026-11-{day} 09:00 returned 2026-11-{day} 12:00")["text"]
    with Statements(services.engine) as third:  # the third: 3 in 30 days and 3 in 90 days, both crossed
        assert "Recorded" in command(app, "report C5678 at 30m ago")["text"]
    assert len(third.seen) <= REPORT_TWO_ALERTS_STATEMENT_BUDGET, third.seen
    with services.sessions() as s:
        from store.alerts import Alert

        assert sorted(s.scalars(select(Alert.variant).where(Alert.rule == "persistence"))) == ["3in30d", "3in90d"]
        assert s.scalar(select(func.count()).select_from(Outbox).where(Outbox.kind == "alert.persistence")) == 1


def test_only_a_change_that_queues_a_message_wakes_the_deliverer(app, services):
    woken = []
    services.on_enqueued = lambda: woken.append(True)
    command(app, "child C1234 label JB")  # a change, but no channel line
    for read in ("status C1234", "open", "due", "help"):
        command(app, read)
    assert woken == []
    command(app, "report C1234 at 1h ago")
    assert woken == [True]


def test_over_http_the_deliverer_is_woken_once_the_answer_has_gone(services):
    """Served (bot/serve.py), a change's answer goes first and the deliverer is woken after it, so
    delivery never competes with the answer; a read wakes nothing. Real Bolt, real edge."""
    from starlette.testclient import TestClient

    from bot.serve import create_web_app
    from handlers.slack.app import build_app
    from tests.slack import FORM, sign, slash_body

    web = create_web_app(services, build_app(services, verified_by_edge=True))
    events: list[str] = []
    services.on_enqueued = lambda: events.append("woken")

    async def spy(scope, receive, send):  # notes when the whole answer has been sent
        async def sent(message):
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                events.append("answered")
        await web(scope, receive, sent)

    with TestClient(spy) as client:
        for text_, expected in (("child C1234 label JB", ["answered"]), ("status C1234", ["answered"]),
                                ("report C1234 at 1h ago", ["answered", "woken"])):
            events.clear()
            body = slash_body(text_)
            resp = client.post("/slack/events", content=body.encode(), headers={"Content-Type": FORM, **sign(body)})
            assert resp.status_code == 200 and "Recorded" in resp.text or text_.startswith("status"), resp.text
            assert events == expected, (text_, events)


def test_a_read_answers_while_another_process_holds_the_write_lock(app, services, db_url):
    command(app, "child C1234 label JB")
    command(app, "report C1234 at 1h ago")
    other = make_engine(db_url)  # e.g. an import running in another process
    conn = other.connect()
    tx = conn.begin()  # on SQLite: BEGIN IMMEDIATE, the write lock
    conn.execute(text("UPDATE children SET label = 'JB' WHERE child_ref = 'C1234'"))
    answers = []
    reader = threading.Thread(target=lambda: answers.extend(command(app, r)["text"] for r in ("status C1234", "open")),
                              daemon=True)
    try:
        reader.start()
        reader.join(5)
        assert len(answers) == 2, "a read waited for another process's write"
        assert "Missing now" in answers[0] and "1 child missing now" in answers[1]
    finally:
        tx.rollback()
        conn.close()
        reader.join(60)
        other.dispose()


def test_a_read_only_session_refuses_to_write(services, clock):
    from store.db import ReadOnlySession

    with pytest.raises(ReadOnlySession):
        with services.reads.begin() as s:
            s.add(Child(child_ref="C1", label="AB", created_at=clock.now, updated_at=clock.now))
            s.flush()
    with pytest.raises(ReadOnlySession):
        with services.reads.begin() as s:
            s.execute(update(Child).values(label="XY"))
    with services.sessions() as s:
        assert s.query(Child).count() == 0


def test_requests_share_the_process_web_client(app, services, monkeypatch):
    from slack_sdk import WebClient

    made = []
    real_init = WebClient.__init__

    def counting_init(self, *args, **kwargs):
        made.append(True)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(WebClient, "__init__", counting_init)
    command(app, "help")
    assert "Opening the form" in command(app, "report")["text"]  # views.open through the process's client
    command(app, "child C1234 label JB")
    assert made == []


def test_serving_loads_no_chart_library_nor_validator_until_asked_for():
    import subprocess
    import sys

    # An idle bot stays small (issue 14: serve's idle memory within 1.5x of a bare Bolt app): the
    # charts' library and the optional SSDA903 validator (pandas) load with the first request that
    # needs them.
    code = ("import sys; import handlers.slack.app, bot.serve, scheduler.jobs, handlers.commands; "
            "print(sorted(m for m in ('matplotlib', 'pandas', 'lac_validator') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_connection_dropped_while_idle_is_replaced_not_an_error(app, services, db_url, monkeypatch):
    # PostgreSQL only: the server restarted (or a firewall dropped the connection) while the pool
    # held it. The check of idle connections (instead of pool_pre_ping on every checkout) replaces it.
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has no server connection to lose")
    import store.db

    command(app, "child C1234 label JB")
    monkeypatch.setattr(store.db, "PING_IDLE_SECONDS", 0.0)
    killer = make_engine(db_url)
    with killer.connect() as c:
        c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
        c.commit()
    killer.dispose()
    assert "C1234 (JB)" in command(app, "status C1234")["text"]


def test_open_and_due_show_the_first_fifty_and_count_them_all(app, services, clock):
    """`open` and `due` read only the rows they show (records.SHOWN) with the totals beside them:
    the counts, the away count and "…and N more" still cover every row, withdrawn ones excluded."""
    from store.records import SHOWN

    for i in range(SHOWN + 3):
        command(app, f"child C{7000 + i} label Q{i}")
        away = " away" if i >= SHOWN else ""  # the away ones are the most recent: beyond the rows shown
        command(app, f"report C{7000 + i} at {5 * 60 - i}m ago{away}")
    command(app, "child C6999 label QW")
    command(app, "report C6999 at 6h ago")
    with services.sessions.begin() as s:  # recorded in error: counts for nothing
        s.execute(update(Episode).where(Episode.child_id == s.query(Child.id).filter_by(child_ref="C6999")
                                        .scalar_subquery()).values(withdrawn_at=clock.now, withdrawn_by="UMANAGER",
                                                                   withdrawn_reason="wrong child"))
    shown = command(app, "open")["text"]
    assert f"*{SHOWN} children missing now and 3 children away from placement now*" in shown, shown
    assert shown.count("• ") == SHOWN and f"…and 3 more." in shown and "C6999" not in shown
    assert shown.index("C7000") < shown.index(f"C{7000 + SHOWN - 1}")  # longest first

    for i in range(SHOWN + 2):
        command(app, f"found C{7000 + i} at 1h ago")
    due = command(app, "due")["text"]
    assert due.count("• ") == SHOWN and "…and 2 more." in due, due
    assert f"C{7000 + SHOWN + 2}" not in due  # still missing: nothing due
