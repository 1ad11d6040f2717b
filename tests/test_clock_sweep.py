"""The clock against a real database and the fake Slack: hooks, sweeps, downtime, threads, DMs.

Time is the injected clock (`clock` fixture); nothing sleeps to wait for a rule."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from scheduler.delivery import deliver_due
from scheduler.sweep import SWEEP_STEPS, evaluate, register_step, sweep
from store.alerts import Alert, Episode, health
from store.models import Outbox
from tests.clock_helpers import alert_posts, child, found, interview, outbox, regrade, report
from tests.conftest import ALERT_CHANNEL

UTC = timezone.utc
WORKER = "UWORKER001"


def episode(services, clock, ref, start):
    """An episode of 3 hours with its interview done, each step at its own time."""
    clock.set(start)
    report(services, ref, start)
    clock.advance(hours=3)
    found(services, ref, clock.now)
    interview(services, ref, clock.now)


def headlines(posts) -> list[str]:
    return [p["text"] for p in posts]


def test_long_missing_at_24_hours_not_at_23_59_in_the_reports_thread(services, slack_stub, clock):
    child(services, "C100", "AB", worker=WORKER)
    start = clock.now - timedelta(minutes=10)
    report(services, "C100", start)
    deliver_due(services)
    root = slack_stub.posts()[0]
    root_ts = next(r.sent_ref for r in outbox(services) if r.kind == "change.reported")

    clock.set(start + timedelta(hours=23, minutes=59))
    assert sweep(services).enqueued == 0
    assert alert_posts(slack_stub) == []

    clock.set(start + timedelta(hours=24))
    result = sweep(services)
    assert result.enqueued == 1 and result.delivered == 2  # team channel + allocated worker
    [post] = alert_posts(slack_stub)
    # counted from when the child went missing (10 minutes before the report), said in the alert
    assert post["text"] == "Missing for 24 hours since Thu 19 Nov 2026 09:50 GMT: C100 (AB)"
    assert post["thread_ts"] == root_ts
    assert "strategy meeting required" in post["blocks"][0]["text"]["text"]
    assert "counted from when the child went missing" in post["blocks"][0]["text"]["text"]
    [dm] = alert_posts(slack_stub, WORKER)
    assert dm["text"] == post["text"] and "thread_ts" not in dm
    assert root["channel"] == ALERT_CHANNEL

    clock.advance(minutes=1)
    assert sweep(services).enqueued == 0
    assert len(alert_posts(slack_stub)) == 1


def test_downtime_of_three_days_each_due_alert_once_and_repeats_collapse(services, slack_stub, clock):
    t0 = clock.now
    child(services, "C200", "CD", worker=WORKER)
    child(services, "C201", "EF")
    report(services, "C200", t0 - timedelta(hours=5))
    found(services, "C200", t0)  # RI due t0 + 72 h
    report(services, "C201", t0)  # still missing
    sweep(services)
    slack_stub.take()

    # the bot is down from t0 until 3 days past the RI deadline
    clock.set(t0 + timedelta(hours=72) + timedelta(days=3, hours=2))
    sweep(services)
    posts = alert_posts(slack_stub)
    assert sorted(headlines(posts)) == sorted([
        "Return interview overdue by 3 days: C200 (CD)",  # one overdue alert, not 4
        "Missing for 24 hours since Thu 19 Nov 2026 10:00 GMT: C201 (EF)",
        "Missing for 72 hours since Thu 19 Nov 2026 10:00 GMT: C201 (EF)",
    ])
    assert "24 h" not in " ".join(h for h in headlines(posts) if "C200" in h)  # the stale 24-h reminder is dropped
    assert len(alert_posts(slack_stub, WORKER)) == 1

    slack_stub.take()
    for _ in range(3):  # more sweeps in the same hour: nothing more
        clock.advance(minutes=1)
        sweep(services)
    assert alert_posts(slack_stub) == []

    clock.advance(hours=23)  # the next daily repeat
    sweep(services)
    assert headlines(alert_posts(slack_stub)) == ["Return interview overdue by 4 days: C200 (CD)"]


def test_reminder_then_overdue_then_outcome_stops_them(services, slack_stub, clock):
    t0 = clock.now
    child(services, "C300", "GH")
    report(services, "C300", t0 - timedelta(hours=3))
    found(services, "C300", t0)
    clock.set(t0 + timedelta(hours=47, minutes=59))
    sweep(services)
    assert alert_posts(slack_stub) == []
    clock.set(t0 + timedelta(hours=48))
    sweep(services)
    assert headlines(alert_posts(slack_stub)) == ["Return interview due in 24 h: C300 (GH)"]
    slack_stub.take()
    clock.set(t0 + timedelta(hours=72))
    sweep(services)
    assert headlines(alert_posts(slack_stub)) == ["Return interview overdue: C300 (GH)"]
    slack_stub.take()

    # the next repeat is stored but not yet delivered when the outcome is recorded: it is cancelled
    clock.set(t0 + timedelta(hours=96))
    assert evaluate(services, clock.now) == 1
    interview(services, "C300", clock.now)
    deliver_due(services)
    assert alert_posts(slack_stub) == []
    assert [r.status for r in outbox(services) if r.kind == "alert.ri_overdue"][-1] == "cancelled"
    clock.advance(days=2)
    sweep(services)
    assert alert_posts(slack_stub) == []


def test_third_episode_in_30_days_alerts_in_the_same_transaction_once(services, slack_stub, clock):
    t0 = clock.now
    child(services, "C400", "IJ")
    for day in (0, 8):
        episode(services, clock, "C400", t0 + timedelta(days=day))
    assert not [r for r in outbox(services) if r.kind == "alert.persistence"]
    clock.set(t0 + timedelta(days=19))
    third = report(services, "C400", clock.now)
    # stored by the report's own transaction, before any sweep or delivery
    # one alert row per rule (each fires once per crossing), one message listing both actions
    with services.sessions() as s:
        assert sorted(a.variant for a in s.scalars(select(Alert).where(Alert.rule == "persistence"))) == ["3in30d", "3in90d"]
    rows = [r for r in outbox(services) if r.kind == "alert.persistence"]
    assert len(rows) == 1 and {r.episode_id for r in rows} == {third}
    deliver_due(services)
    [post] = alert_posts(slack_stub)
    assert post["text"] == "3 episodes in 30 days and 3 in 90 days: C400 (IJ)"
    report_ts = next(r.sent_ref for r in outbox(services) if r.kind == "change.reported" and r.episode_id == third)
    assert post["thread_ts"] == report_ts
    body = post["blocks"][0]["text"]["text"]
    assert "• missing intervention planning meeting (3 in 30 days)" in body
    assert "• strategy meeting (3 in 90 days)" in body

    clock.advance(hours=2)
    found(services, "C400", clock.now)
    interview(services, "C400", clock.now)
    clock.set(t0 + timedelta(days=20))
    report(services, "C400", clock.now)  # a fourth: still at or above 3, no new crossing
    sweep(services)
    assert len([r for r in outbox(services) if r.kind == "alert.persistence"]) == 1


def test_two_in_30_days_but_three_in_90(services, slack_stub, clock):
    t0 = clock.now
    child(services, "C500", "KL")
    for day in (0, 20):
        episode(services, clock, "C500", t0 + timedelta(days=day))
    clock.set(t0 + timedelta(days=35))
    report(services, "C500", clock.now)  # 30-day window: 2 episodes; 90-day: 3
    deliver_due(services)
    assert headlines(alert_posts(slack_stub)) == ["3 episodes in 90 days: C500 (KL)"]


def test_high_risk_on_report_and_on_regrade(services, slack_stub, clock):
    child(services, "C600", "MN")
    report(services, "C600", clock.now, risk="high")
    deliver_due(services)
    assert headlines(alert_posts(slack_stub)) == ["High risk: C600 (MN)"]
    slack_stub.take()
    clock.advance(minutes=5)
    regrade(services, "C600", "medium")
    clock.advance(minutes=5)
    regrade(services, "C600", "high")
    deliver_due(services)
    [post] = alert_posts(slack_stub)
    assert post["text"] == "High risk: C600 (MN)" and "(was medium)" in post["blocks"][0]["text"]["text"]


def test_episodes_written_without_hooks_are_found_by_the_sweep(services, slack_stub, clock):
    """History loaded by import counts like new episodes, even if the import skips the hooks."""
    cid = child(services, "C700", "OP")
    sweep(services)
    with services.sessions.begin() as s:
        for day in (12, 6, 1):
            start = clock.now - timedelta(days=day)
            s.add(Episode(child_id=cid, started_at=start, returned_at=start + timedelta(hours=4), source="import",
                          created_at=clock.now, updated_at=clock.now, ri_outcome="completed"))
    clock.advance(minutes=1)
    sweep(services)
    assert headlines(alert_posts(slack_stub)) == ["3 episodes in 30 days and 3 in 90 days: C700 (OP)"]
    clock.advance(minutes=1)
    assert sweep(services).enqueued == 0


def test_channel_messages_carry_reference_and_label_only(services, slack_stub, clock):
    from store import records
    from tests.clock_helpers import change

    with change(services) as ctx:
        records.upsert_child(ctx, "C800", {"label": "QR", "date_of_birth": datetime(2010, 5, 17).date()})
    report(services, "C800", clock.now - timedelta(hours=25), risk="high")
    deliver_due(services)
    for post in alert_posts(slack_stub):
        text = str(post)
        assert "C800 (QR)" in text and "2010" not in text and "17/05" not in text


def test_sweep_runs_registered_steps_and_survives_a_failing_one(services, clock):
    seen = []

    def good(svc, now):
        seen.append(now)

    def bad(svc, now):
        raise RuntimeError("boom")

    register_step(bad)
    register_step(good)
    register_step(good)
    try:
        result = sweep(services)
        assert seen == [clock.now]
        assert result.errors == ["bad:RuntimeError"]
    finally:
        SWEEP_STEPS.remove(bad)
        SWEEP_STEPS.remove(good)
    with services.sessions() as s:
        h = health(s)
    assert h.last_sweep is not None and h.last_sweep.at == clock.now and h.last_sweep.error == "bad:RuntimeError"


def test_alert_rows_are_unique_per_key(services, clock):
    child(services, "C900", "ST")
    report(services, "C900", clock.now - timedelta(hours=30))
    for _ in range(3):
        evaluate(services, clock.now)
    with services.sessions() as s:
        keys = list(s.scalars(select(Alert.key)))
        assert keys == ["long_missing:24h:ep:1"] or len(keys) == len(set(keys)) == 1
        assert s.scalar(select(Outbox).where(Outbox.kind == "alert.long_missing")) is not None


def test_imported_history_counts_in_the_import_transaction_and_old_history_is_quiet(services, slack_stub, clock):
    from bot.protocol.csvimport import COLUMNS
    from store.imports import import_csv
    from tests.clock_helpers import change

    def line(ref, start, end, label="UV"):
        values = dict(child_ref=ref, child_label=label, started_at=start, returned_at=end, ri_outcome="completed",
                      ri_at=end)
        return ",".join(values.get(c, "") for c in COLUMNS)

    data = "\n".join([",".join(COLUMNS),
                      line("C950", "2026-11-01 10:00", "2026-11-01 12:00"),
                      line("C950", "2026-11-08 10:00", "2026-11-08 12:00"),
                      line("C950", "2026-11-15 10:00", "2026-11-15 12:00"),
                      line("C951", "2025-01-01 10:00", "2025-01-01 12:00"),  # three, long ago: nothing now
                      line("C951", "2025-01-02 10:00", "2025-01-02 12:00"),
                      line("C951", "2025-01-03 10:00", "2025-01-03 12:00")]) + "\n"
    with change(services, user="UADMIN0001") as ctx:
        import_csv(ctx, data.encode())
    rows = [r for r in outbox(services) if r.kind.startswith("alert.")]  # stored by the import itself
    assert [r.text for r in rows] == ["3 episodes in 30 days and 3 in 90 days: C950 (UV)"]
    clock.advance(minutes=1)
    assert sweep(services).enqueued == 0

    # two imported recent episodes and a new report make three
    child(services, "C952", "WX")
    with change(services, user="UADMIN0001") as ctx:
        import_csv(ctx, ("\n".join([",".join(COLUMNS), line("C952", "2026-11-10 10:00", "2026-11-10 12:00", "WX"),
                                    line("C952", "2026-11-12 10:00", "2026-11-12 12:00", "WX")]) + "\n").encode())
    assert not [r for r in outbox(services) if r.kind.startswith("alert.") and "C952" in r.text]
    report(services, "C952", clock.now)
    deliver_due(services)
    assert "3 episodes in 30 days and 3 in 90 days: C952 (WX)" in headlines(alert_posts(slack_stub))
