"""The command grammar: examples, and properties — no input raises an unhandled exception."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.protocol import grammar as g
from handlers.commands import run_command
from handlers.record import CHILD, REPORT
from tests.conftest import DUTY_USER

WORDS = ["report", "found", "returned", "interview", "child", "risk", "status", "open", "due", "help", "at", "from",
         "risk", "police", "away", "location", "by", "label", "dob", "gender", "placement", "looked-after",
         "out-of-area", "worker", "placed-by", "placed-in", "placed", "Notts", "Nottinghamshire", "none", "C1234", "high", "completed", "declined", "yes", "no", "14:30", "yesterday",
         "2h", "ago", "now", '"', "'", "<@U123ABC>", "20/11/2026", "2026-11-20", "\u201c", "--", "\\"]


def test_keywords_take_the_words_up_to_the_next_keyword():
    p = g.parse_args("C1 at yesterday 22:15 from Oak House, Derby risk high police PR/1 away", REPORT)
    assert p.positional == {"child_ref": "C1"}
    assert p.keywords == {"at": "yesterday 22:15", "from": "Oak House, Derby", "risk": "high", "police": "PR/1"}
    assert p.flags == {"away"}


def test_quotes_protect_a_keyword_inside_a_value():
    p = g.parse_args('C1 from "Home at the Lane" at 14:30', REPORT)
    assert p.keywords == {"from": "Home at the Lane", "at": "14:30"}
    p = g.parse_args("C1 from \u201cHome at the Lane\u201d", REPORT)
    assert p.keywords["from"] == "Home at the Lane"


@pytest.mark.parametrize("text,message", [
    ("", "Missing child ref"),
    ("C1 at", "`at` needs a value"),
    ("C1 risk high risk low", "given twice"),
    ("C1 banana", "I don't understand `banana`"),
    ('C1 from "unclosed', "quotation mark is not closed"),
    ("C1 risk very high", "takes one word"),
])
def test_grammar_errors_explain(text, message):
    with pytest.raises(g.GrammarError) as err:
        g.parse_args(text, REPORT)
    assert message in err.value.message
    assert err.value.example


def test_apostrophes_and_backslashes_are_ordinary_characters():
    p = g.parse_args("C1 from children's home at 2h ago location Friend\u2019s flat", REPORT)
    assert p.keywords["from"] == "children's home"
    p = g.parse_args(r"C1 police PR\2026\1", REPORT)
    assert p.keywords["police"] == r"PR\2026\1"


def test_converters():
    assert g.child_ref("c1234", "") == "C1234"
    assert g.user_id("@U012AB3CD", "") == "U012AB3CD"  # how the Slack edge hands over <@U012AB3CD|sam>
    assert g.user_id("0f8a1b2c-3d4e-4f50-9a6b-7c8d9e0f1a2b", "") == "0f8a1b2c-3d4e-4f50-9a6b-7c8d9e0f1a2b"  # a Teams user
    assert g.yes_no("Y", "x", "") is True
    assert g.choice("Foster", ("foster_care",), {"foster": "foster_care"}, "placement type", "") == "foster_care"
    for bad in ("a b", "", "x" * 65, "-C1", "C1;DROP"):
        with pytest.raises(g.GrammarError):
            g.child_ref(bad, "")
    with pytest.raises(g.GrammarError):
        g.user_id("@sam", "")


@given(st.text(max_size=300))
@settings(max_examples=500, deadline=None)
def test_parse_args_raises_only_grammar_errors(text):
    for spec in (REPORT, CHILD):
        try:
            g.parse_args(text, spec)
        except g.GrammarError as exc:
            assert exc.message


@given(st.one_of(st.text(max_size=120), st.lists(st.sampled_from(WORDS), max_size=12).map(" ".join)))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_command_text_gets_a_reply_never_an_exception(services, text):
    reply = run_command(services, user_id=DUTY_USER, channel_id="C0ALERTS01", text=text, is_admin=False)
    assert str(reply.text)
    assert "something went wrong" not in str(reply.text), (text, reply.text)


@pytest.mark.parametrize("text, keywords", [
    ("C1 at 12:00 location Park at the lake cse yes", {"at": "12:00", "location": "Park at the lake", "cse": "yes"}),
    ("C1 location stayed at a friend's at 2h ago", {"location": "stayed at a friend's", "at": "2h ago"}),
    ("C1 location Derby bus station cse yes", {"location": "Derby bus station", "cse": "yes"}),
    ('C1 location "cse yes lane"', {"location": "cse yes lane"}),
])
def test_time_words_in_free_text(text, keywords):
    from handlers.record import FOUND

    assert g.parse_args(text, FOUND).keywords == keywords
