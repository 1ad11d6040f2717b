"""The `/missing` grammar: words in, typed values out, or a clear GrammarError.

    /missing report C1234 at yesterday 22:15 from Oak House risk high police PR/123 away

A subcommand's arguments are positional words followed by keyword sections. A keyword takes
the words up to the next keyword (so `at yesterday 22:15` and `from Oak House` need no quotes);
quote a value that contains a keyword: `from "Home at the Lane"`. Nothing here raises anything
but GrammarError, whatever the input."""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot.protocol import words

CHILD_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/_.\-]{0,63}$")
# A label is initials or a pseudonym; it appears in channel lines, so no Slack markup (< > & * ` ~).
LABEL = re.compile(r"^[\w .'\u2019()/-]{1,64}$")
# A person: `@id` (how the platform edges hand over someone picked from a menu) or a bare id:
# a Slack user id or a Teams user's Entra object id.
USER_MENTION = re.compile(r"^@?([UW][A-Z0-9]{6,}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$")
MAX_TEXT = 2000


class GrammarError(words.Refusal):
    """A command that could not be read."""


@dataclass(frozen=True)
class Spec:
    """A subcommand's shape: positional names, keywords taking text, and flags."""

    usage: str
    example: str
    positional: tuple[str, ...] = ()
    optional_positional: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    single_word: tuple[str, ...] = field(default=())
    # Words people type for one token: (("no apparent risk", "no_apparent_risk"),) reads three words as one.
    phrases: tuple[tuple[str, str], ...] = ()
    # Keywords that take a time. Inside free text they are ordinary words ("stayed at a friend's")
    # unless a time follows them ("location Park at 14:30").
    time_keywords: tuple[str, ...] = ("at", "offered", "returned")


# What a time typed after `at` can start with (bot/protocol/when.py reads the rest).
TIME_START = re.compile(r"^(now|today|yesterday|\d)", re.IGNORECASE)


@dataclass
class Parsed:
    positional: dict[str, str]
    keywords: dict[str, str]
    flags: set[str]

    def get(self, name: str) -> str | None:
        return self.keywords.get(name)


def tokenize(text: str, example: str = "") -> list[str]:
    if len(text) > MAX_TEXT:
        raise GrammarError(f"That is too long ({len(text)} characters; at most {MAX_TEXT}).", example)
    # Text copied from web pages brings non-breaking and other Unicode spaces; they are spaces.
    text = re.sub(r"\s", " ", text)
    # Slack may send typographic quotes from phones.
    text = text.replace("\u201c", '"').replace("\u201d", '"')
    try:
        lexer = shlex.shlex(text, posix=True, punctuation_chars=False)
        lexer.whitespace_split = True
        lexer.commenters = ""
        lexer.quotes = '"'  # apostrophes are words ("children's home"), not quotes
        lexer.escape = ""  # and backslashes are just characters
        return list(lexer)
    except ValueError:
        raise GrammarError("A quotation mark is not closed.", example) from None


def _join_phrases(tokens: list[str], phrases: tuple[tuple[str, str], ...]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(tokens):
        for phrase, token in phrases:
            words_ = phrase.split()
            if [t.lower() for t in tokens[i:i + len(words_)]] == words_:
                out.append(token)
                i += len(words_)
                break
        else:
            out.append(tokens[i])
            i += 1
    return out


def parse_args(text: str, spec: Spec) -> Parsed:
    tokens = _join_phrases(tokenize(text, spec.example), spec.phrases)
    keys = set(spec.keywords) | set(spec.flags)
    positional: dict[str, str] = {}
    names = list(spec.positional) + list(spec.optional_positional)
    i = 0
    while i < len(tokens) and len(positional) < len(names) and tokens[i].lower() not in keys:
        positional[names[len(positional)]] = tokens[i]
        i += 1
    missing = [n for n in spec.positional if n not in positional]
    if missing:
        raise GrammarError(f"Missing {missing[0].replace('_', ' ')}. Usage: `{spec.usage}`", spec.example)
    keywords: dict[str, str] = {}
    flags: set[str] = set()
    while i < len(tokens):
        word = tokens[i].lower()
        if word in spec.flags:
            flags.add(word)
            i += 1
            continue
        if word not in spec.keywords:
            raise GrammarError(f"I don't understand `{tokens[i][:40]}` here. Usage: `{spec.usage}`", spec.example)
        if word in keywords:
            raise GrammarError(f"`{word}` is given twice. When it is part of a text, put that text in quotes: "
                               f'`account "we met {word} the park"`.', spec.example)
        j = i + 1
        while j < len(tokens) and not _ends_value(tokens, j, word, keywords, keys, spec):
            j += 1
        value = " ".join(tokens[i + 1:j]).strip()
        if not value:
            raise GrammarError(f"`{word}` needs a value. Usage: `{spec.usage}`", spec.example)
        if word in spec.single_word and j - i > 2:
            raise GrammarError(f"`{word}` takes one word; quote it if it has spaces.", spec.example)
        keywords[word] = value
        i = j
    return Parsed(positional, keywords, flags)


def _ends_value(tokens: list[str], j: int, word: str, given: dict, keys: set[str], spec: Spec) -> bool:
    """Whether tokens[j] starts the next keyword section while the value of `word` is read.

    Keywords end free text (`location Derby bus station cse yes`), except where practitioners use
    them as words: in free text, a keyword already given is a word (`found C1 at 12:00 location
    Park at the lake`), and so is a time keyword not followed by a time (`account stayed at a
    friend's`). Quoting keeps any word in a text."""
    token = tokens[j].lower()
    if token not in keys:
        return False
    free_text = word not in spec.single_word and word not in spec.time_keywords
    if not free_text:
        return True
    if token in given or token == word:
        return False
    if token in spec.time_keywords:
        return j + 1 < len(tokens) and bool(TIME_START.match(tokens[j + 1]))
    return True


# -- value converters: each raises GrammarError with the valid choices -----------------

def normal_child_ref(value: str) -> str | None:
    """The one rule for case references, wherever they come from (commands, forms, import): letters
    and digits (and / _ . -), up to 64 characters, kept in capitals. None when it is not one."""
    value = (value or "").strip()
    return value.upper() if CHILD_REF.match(value) else None


def child_ref(value: str, example: str) -> str:
    ref = normal_child_ref(value)
    if ref is None:
        raise GrammarError("A case reference is letters and digits (and / _ . -), up to 64 characters.", example)
    return ref


def choice(value: str, allowed: tuple[str, ...], aliases: dict[str, str] | None, what: str, example: str) -> str:
    found = words.canonical(value, allowed, aliases)
    if found is None:
        raise GrammarError(f"`{value[:40]}` is not a {what}. Use one of: {', '.join(allowed)}.", example)
    return found


def label(value: str, example: str) -> str:
    value = " ".join(value.split())
    if not LABEL.match(value):
        raise GrammarError("A label is initials or a pseudonym (never a full name): letters, digits, spaces and "
                           ". ' - ( ) /, up to 64 characters.", example)
    return value


def yes_no(value: str, what: str, example: str) -> bool:
    v = value.strip().lower()
    if v in ("yes", "y", "true", "1"):
        return True
    if v in ("no", "n", "false", "0"):
        return False
    raise GrammarError(f"{what} is `yes` or `no`, not `{value[:20]}`.", example)


def user_id(value: str, example: str) -> str:
    m = USER_MENTION.match(value.strip())
    if not m:
        raise GrammarError("Name the worker by mentioning them (type @ and pick them) or by their user ID "
                           "(Slack: like U012AB3CD).", example)
    return m.group(1)


DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y")


def day(value: str, what: str, example: str, *, today: date | None = None) -> date:
    for fmt in DATE_FORMATS:
        try:
            d = datetime.strptime(value.strip(), fmt).date()
        except ValueError:
            continue
        if today and d > today:
            raise GrammarError(f"The {what} is in the future.", example)
        if d.year < 1900:
            raise GrammarError(f"The {what} is too far in the past.", example)
        return d
    raise GrammarError(f"`{value[:30]}` is not a date. Write the {what} as 2011-04-23 or 23/04/2011.", example)


def when(value: str, now: datetime, zone: ZoneInfo, grace_minutes: int, example: str) -> datetime:
    from bot.protocol.when import WhenError, parse_when

    try:
        return parse_when(value, now, zone, grace_minutes=grace_minutes)
    except WhenError as exc:
        # The caller's example (a whole command) when it gives one; else a time that works.
        raise GrammarError(exc.message, example or exc.example) from None


def free_text(value: str, what: str, limit: int = 200) -> str:
    value = " ".join(value.split())
    if len(value) > limit:
        raise GrammarError(f"The {what} is too long (at most {limit} characters).")
    return value


def factors(value: str, allowed: dict[str, str], example: str) -> list[str]:
    """`family conflict, peers` -> ["family_conflict", "peers"]: the codes of the protocol's
    push/pull factors (`allowed`: code -> words), in the protocol's order; an unknown one is
    refused with the list."""
    chosen: set[str] = set()
    for item in value.split(","):
        code = words.factor_code(item)
        if not code:
            continue
        if code not in allowed:
            raise GrammarError(f"`{item.strip()[:40]}` is not a push/pull factor. Use one or more of: "
                               f"{', '.join(allowed.values())} (separated by commas).", example)
        chosen.add(code)
    if not chosen:
        raise GrammarError(f"Name at least one push/pull factor: {', '.join(allowed.values())}.", example)
    return [code for code in allowed if code in chosen]
