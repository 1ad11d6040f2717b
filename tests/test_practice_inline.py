"""What practice records, typed inline: reasons, push/pull factors, CSE/CCE concerns, where found,
the return interview's details, correction, sign-off and `/missing concern` — through the Bolt app."""
from __future__ import annotations

import html
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from bot.protocol.config import ProtocolError, parse_protocol
from store.models import AuditRecord, Episode, Outbox
from tests.conftest import ADMIN_USER, DUTY_USER, make_settings
from tests.slack import command

MANAGER = "UMANAGER01"


@pytest.fixture
def settings(db_url, slack_stub):
    return make_settings(db_url, slack_stub, manager_users=[MANAGER])


def episodes(services) -> list[Episode]:
    with services.sessions() as s:
        return list(s.scalars(select(Episode).order_by(Episode.started_at)))


def audits(services, action: str) -> list[AuditRecord]:
    with services.sessions() as s:
        return list(s.scalars(select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.id)))


def channel_lines(services) -> list[str]:
    with services.sessions() as s:
        return [o.text for o in s.scalars(select(Outbox).where(Outbox.kind.like("change.%")).order_by(Outbox.id))]


def new_child(app, ref: str = "C1", label: str = "AB") -> None:
    assert "Recorded" in command(app, f"child {ref} label {label} looked-after yes")["text"]


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


# -- report and found --------------------------------------------------------------------------

def test_found_location_ends_at_the_next_keyword_and_the_concern_is_recorded(app, services):
    new_child(app)
    command(app, "report C1 at yesterday 08:00")
    reply = command(app, "found C1 at 12:00 location Derby bus station cse yes")
    assert "returned" in reply["text"] and "CSE concern" in reply["text"]
    [e] = episodes(services)
    assert e.found_location == "Derby bus station" and e.cse_concern is True and e.cce_concern is False
    assert e.returned_at == utc(2026, 11, 18, 12) and e.returned_by == DUTY_USER
    assert "Derby" not in " ".join(channel_lines(services))


def test_quoting_keeps_a_keyword_inside_the_text(app, services):
    new_child(app)
    command(app, "report C1 at yesterday 08:00")
    command(app, 'found C1 at 12:00 location "cse yes lane" reason "ran off at the park"')
    [e] = episodes(services)
    assert e.found_location == "cse yes lane" and e.cse_concern is False
    assert e.reasons == "ran off at the park"


def test_report_records_reason_factors_and_concern(app, services):
    new_child(app)
    reply = command(app, "report C1 at 08:00 reason argument with carer about phone factors Family conflict, "
                         "placement cce yes risk medium")
    assert "Also recorded" in reply["text"] and "family conflict, placement" in reply["text"]
    assert "argument" not in reply["text"], "free text is not echoed"
    [e] = episodes(services)
    assert e.reasons == "argument with carer about phone" and e.factors == ["family_conflict", "placement"]
    assert e.cce_concern is True and e.cse_concern is False and e.risk_grade == "medium"
    assert audits(services, "episode.report")[0].after["reasons"] == "argument with carer about phone"
    lines = " ".join(channel_lines(services))
    assert "argument" not in lines and "conflict" not in lines and "CCE" not in lines.upper().replace("C1 ", "")


def test_factors_come_in_the_protocols_order_once(app, services):
    new_child(app)
    command(app, "report C1 at 08:00 factors peers, substance use, peers, family-conflict")
    assert episodes(services)[0].factors == ["family_conflict", "peers", "substance_use"]


@pytest.mark.parametrize("text, says", [
    ("report C1 factors peers, gangs", "`gangs` is not a push/pull factor. Use one or more of: family conflict, placement"),
    ("report C1 cse maybe", "cse is `yes` or `no`"),
    ("report C1 cse yes please", "`cse` takes one word"),
    ("report C1 reason", "`reason` needs a value"),
    ("report C1 factors ,", "Name at least one push/pull factor"),
])
def test_bad_practice_values_are_refused_and_nothing_is_recorded(app, services, text, says):
    new_child(app)
    reply = command(app, text)
    assert says in reply["text"] and "For example" in reply["text"]
    assert episodes(services) == []


def test_found_keeps_what_the_report_said_unless_told_otherwise(app, services):
    new_child(app)
    command(app, "report C1 at yesterday 08:00 reason went to see friends cse yes factors peers")
    command(app, "found C1 at 12:00 cse no factors peers, exploitation")
    [e] = episodes(services)
    assert e.reasons == "went to see friends" and e.cse_concern is False and e.factors == ["peers", "exploitation"]
    [found] = audits(services, "episode.found")
    assert found.before["cse_concern"] is True and found.after["cse_concern"] is False


def test_the_protocol_file_sets_the_factors(app, services):
    services.protocol = parse_protocol({"push_pull_factors": ["Gang association", "school exclusion"]})
    new_child(app)
    assert "not a push/pull factor. Use one or more of: Gang association, school exclusion" in \
        command(app, "report C1 factors peers")["text"]
    command(app, "report C1 factors gang association")
    assert episodes(services)[0].factors == ["gang_association"]


@pytest.mark.parametrize("factors, says", [
    (["peers", "Peers"], "listed twice"),
    (["peers", "a;b"], "letters, digits and spaces"),
    ([], "push_pull_factors"),
])
def test_a_bad_factor_list_stops_start_up_naming_the_key(factors, says):
    with pytest.raises(ProtocolError) as exc:
        parse_protocol({"push_pull_factors": factors})
    assert "push_pull_factors" in str(exc.value) and says in str(exc.value)


# -- the return interview -------------------------------------------------------------------------

def returned(app, ref: str = "C1") -> None:
    new_child(app, ref)
    command(app, f"report {ref} at yesterday 08:00")
    command(app, f"found {ref} at yesterday 20:00")


def test_interview_keywords_are_all_recorded(app, services):
    returned(app)
    reply = command(app, "interview C1 completed at 09:00 by Jo Bloggs (Runaways service) independent no "
                         "offered yesterday 21:00 account \"said she stayed at a friend's flat by the river\" "
                         "followup tell school; refer to youth service reason fell out with carer factors peers cse yes")
    assert "*completed*" in reply["text"] and "not independent of the placement" in reply["text"]
    assert "friend's flat" not in reply["text"] and "youth service" not in reply["text"]
    [e] = episodes(services)
    assert e.ri_outcome == "completed" and e.ri_at == utc(2026, 11, 19, 9)
    assert e.ri_by == "Jo Bloggs (Runaways service)" and e.ri_independent is False
    assert e.ri_offered_at == utc(2026, 11, 18, 21)
    assert e.ri_account == "said she stayed at a friend's flat by the river"
    assert e.ri_followup == "tell school; refer to youth service" and e.ri_recorded_by == DUTY_USER
    assert e.reasons == "fell out with carer" and e.factors == ["peers"] and e.cse_concern is True
    assert "river" not in " ".join(channel_lines(services))


def test_time_words_inside_free_text_are_words_unless_a_time_follows(app, services):
    returned(app)
    # `at` already given, or not followed by a time: part of the account, as a practitioner means it.
    reply = command(app, "interview C1 completed at 09:00 account stayed at a friend's followup none")
    assert "*completed*" in reply["text"], reply["text"]
    e = episodes(services)[0]
    assert e.ri_account == "stayed at a friend's" and e.ri_at == utc(2026, 11, 19, 9) and e.ri_followup == "none"
    command(app, "interview C1 voided account went to the shop at the corner correct")
    assert episodes(services)[0].ri_account == "went to the shop at the corner"
    # a time after `at` still ends the text; quoting keeps anything in it
    reply = command(app, 'interview C1 completed account "stayed at 12 Elm Road" at 09:30 correct')
    e = episodes(services)[0]
    assert e.ri_account == "stayed at 12 Elm Road" and e.ri_at == utc(2026, 11, 19, 9, 30), reply["text"]


def test_a_repeated_keyword_outside_free_text_is_refused_with_how_to_quote(app, services):
    returned(app)
    reply = command(app, "interview C1 completed at 09:00 at 10:00")
    assert "`at` is given twice. When it is part of a text, put that text in quotes" in reply["text"]
    assert episodes(services)[0].ri_outcome is None


@pytest.mark.parametrize("text, says", [
    ("interview C1 completed at 09:00 offered yesterday 07:00", "offered before the return"),
    ("interview C1 completed at 09:00 offered 09:30", "offered after it was held"),
    ("interview C1 completed independent perhaps", "independent is `yes` or `no`"),
    ("interview C1 completed offered 2026-11-20 09:00", "in the future"),
])
def test_bad_interview_details_are_refused(app, services, text, says):
    returned(app)
    reply = command(app, text)
    assert says in reply["text"], reply["text"]
    assert episodes(services)[0].ri_outcome is None


def test_a_second_outcome_needs_correct_and_says_what_it_replaced(app, services, clock):
    returned(app)
    command(app, "interview C1 completed at 09:00 by Jo")
    refused = command(app, "interview C1 voided")
    assert "already recorded as completed Thu 19 Nov 2026 09:00 GMT by Jo" in refused["text"]
    assert "`correct`" in refused["text"] and "interview C1 voided at 2026-11-19 10:00 correct" in refused["text"]
    assert episodes(services)[0].ri_outcome == "completed"

    command(app, "interview signoff C1", user_id=MANAGER)
    clock.advance(minutes=5)
    reply = command(app, "interview C1 voided correct")
    assert "corrected to *voided*" in reply["text"]
    assert "It replaced: completed Thu 19 Nov 2026 09:00 GMT by Jo" in reply["text"]
    [e] = episodes(services)
    assert e.ri_outcome == "voided" and e.ri_signed_off_at is None and e.ri_by == "Jo"
    [fix] = audits(services, "episode.interview_correct")
    assert fix.before["ri_outcome"] == "completed" and fix.after["ri_outcome"] == "voided"
    assert fix.before["ri_signed_off_by"] == MANAGER
    assert any("corrected to voided" in line for line in channel_lines(services))


def test_only_managers_and_admins_sign_off(app, services, clock):
    returned(app)
    assert "no return interview recorded to sign off" in command(app, "interview signoff C1", user_id=MANAGER)["text"]
    command(app, "interview C1 completed at 09:00")
    refused = command(app, "interview signoff C1")
    assert "Only managers (MANAGER_USERS) and administrators can sign off" in refused["text"]
    assert episodes(services)[0].ri_signed_off_at is None and audits(services, "episode.signoff") == []

    reply = command(app, "interview signoff C1", user_id=MANAGER)  # a manager need not be in AUTHORIZED_USERS
    assert "signed off by you" in reply["text"]
    [e] = episodes(services)
    assert (e.ri_signed_off_at, e.ri_signed_off_by) == (clock.now, MANAGER)
    assert audits(services, "episode.signoff")[0].actor == MANAGER
    again = command(app, "interview signoff C1", user_id=ADMIN_USER)
    assert f"already signed off by <@{MANAGER}>" in again["text"]


def test_an_admin_counts_as_a_manager(app, services):
    returned(app)
    command(app, "interview C1 declined at 09:00")
    assert "signed off by you" in command(app, "interview signoff C1", user_id=ADMIN_USER)["text"]
    assert episodes(services)[0].ri_signed_off_by == ADMIN_USER


# -- /missing concern ---------------------------------------------------------------------------

def test_concern_on_the_latest_episode_with_a_note(app, services):
    returned(app)
    reply = command(app, "concern C1 cse note seen getting into cars with older males")
    assert "CSE (child sexual exploitation) concern recorded" in reply["text"]
    [e] = episodes(services)
    assert e.cse_concern is True and "seen getting into cars with older males" in e.concern_note
    [a] = audits(services, "episode.concern")
    assert a.before["cse_concern"] is False and a.after["cse_concern"] is True
    last = channel_lines(services)[-1]
    assert last == f":pencil2: C1 (AB): record updated by @{DUTY_USER}."  # the plain preview


def test_concern_on_an_earlier_episode_named_as_status_shows_it(app, services, clock):
    returned(app)
    command(app, "report C1 at 06:00")
    command(app, "found C1 at 07:00")
    command(app, "concern C1 cce Wed 18 Nov 2026 08:00 GMT")
    command(app, "concern C1 cse 18/11/2026 note second")
    first, second = episodes(services)
    assert first.cce_concern and first.cse_concern and "second" in first.concern_note
    assert not (second.cce_concern or second.cse_concern)
    command(app, "concern C1 cse latest")
    assert episodes(services)[1].cse_concern


@pytest.mark.parametrize("text, says", [
    ("concern C1 xyz", "not a concern type"),
    ("concern C1", "Give the case reference and the concern"),
    ("concern C1 cse 01/01/2020", "C1 has no episode starting Wed 01 Jan 2020"),
    ("concern C1 cse next tuesday", "is not an episode start"),
    ("concern C1 cse note", "`note` needs some text"),
])
def test_bad_concerns_are_refused(app, services, text, says):
    returned(app)
    reply = command(app, text)
    assert says in reply["text"], reply["text"]
    assert not episodes(services)[0].cse_concern and audits(services, "episode.concern") == []


def test_a_concern_already_recorded_without_a_note_changes_nothing(app, services):
    returned(app)
    command(app, "concern C1 cse")
    assert "already recorded" in command(app, "concern C1 cse")["text"]
    assert len(audits(services, "episode.concern")) == 1


# -- status and help ------------------------------------------------------------------------------

def test_status_shows_everything_to_the_asker(app, services):
    returned(app)
    command(app, "concern C1 cce note older boys at the arcade")
    command(app, "interview C1 completed at 09:00 by Jo independent yes offered yesterday 21:00 "
                 "account I was scared to go home followup GP appointment factors mental health reason low mood")
    command(app, "interview signoff C1", user_id=MANAGER)
    text = command(app, "status C1")["text"]
    for part in ("Reason: low mood", "Push/pull factors: mental health", "Concerns: CCE",
                 "older boys at the arcade", "completed Thu 19 Nov 2026 09:00 GMT by Jo",
                 "independent of the placement", "offered Wed 18 Nov 2026 21:00 GMT",
                 "Child's account (private): I was scared to go home", "Follow-up: GP appointment",
                 f"signed off by <@{MANAGER}>"):
        assert part in text, part


def test_help_lists_the_new_keywords(app):
    text = html.unescape(command(app, "help")["text"])  # as Slack shows it
    for word in ("reason <text>", "factors <a>, <b>", "cse yes|no", "location <text>", "independent yes|no",
                 "offered <when>", "account <text>", "followup <text>", "correct", "interview signoff",
                 "/missing concern", "/missing held", "family conflict"):
        assert word in text, word


def test_the_zone_shown_by_status_tells_the_two_autumn_0130s_apart(app, services, clock):
    from tests.clock_helpers import child as make_child, found as mark_found, report as mark_report

    clock.set(utc(2026, 10, 25, 12))
    make_child(services, "C5", "GH")
    mark_report(services, "C5", utc(2026, 10, 25, 0, 30))  # 01:30 BST
    mark_found(services, "C5", utc(2026, 10, 25, 0, 45))
    mark_report(services, "C5", utc(2026, 10, 25, 1, 30))  # 01:30 GMT, an hour later
    mark_found(services, "C5", utc(2026, 10, 25, 2))
    status = command(app, "status C5")["text"]
    assert "Sun 25 Oct 2026 01:30 GMT" in status and "Sun 25 Oct 2026 01:30 BST" in status
    command(app, "concern C5 cse Sun 25 Oct 2026 01:30 GMT")
    command(app, "concern C5 cce Sun 25 Oct 2026 01:30 BST")
    bst, gmt = episodes(services)
    assert (bst.cse_concern, bst.cce_concern, gmt.cse_concern, gmt.cce_concern) == (False, True, True, False)
    assert "has 2 episodes starting 25/10/2026" in command(app, "concern C5 cse 25/10/2026")["text"]


def test_the_board_figures_count_factors_under_the_codes_recorded(app, services):
    """The protocol file lists factors in words; episodes store codes; the figures list each factor once."""
    from datetime import date

    from bot.protocol.figures import compute_figures
    from store.figures import started_between

    new_child(app)
    command(app, "report C1 at 08:00 factors family conflict, peers")
    with services.sessions() as s:
        facts = started_between(s, utc(2026, 11, 1), utc(2026, 12, 1))
    fig = compute_figures(facts, date(2026, 11, 1), date(2026, 11, 30), services.zone, services.protocol, services.now())
    by_factor = fig["push_pull_factors"]["by_factor"]
    assert list(by_factor) == list(services.protocol.factors)
    assert by_factor["family_conflict"]["episodes"] == 1 and by_factor["peers"]["episodes"] == 1
