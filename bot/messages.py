"""The neutral message: what the bot says, before any platform has a say in how it looks.

Handlers, the clock and the stores build `Message`s; each platform renders them at the edge
(Slack: handlers/slack/render.py, Teams: handlers/teams/cards.py, the console: `to_text` here).
The outbox stores them as JSON (`to_json`/`from_json`), so a message queued today renders with
whatever platform delivers it.

Text is `Rich`: a sequence of spans, each a plain string, a `Person` or a `Place`. People are
people (a platform id), never a platform's mention syntax, so nothing a user typed can become a
mention: every plain string is escaped by the renderer. Inside plain strings a small neutral
markup is read by every renderer:

- `*strong*`, `_emphasis_`, `` `code` ``;
- icons by name, `:warning:` (the table `ICONS` gives each one's character for platforms that do
  not read names);
- lines separated by "\\n".

A `Message` has a headline, paragraphs, facts (label/value pairs), notes (small print: who acted
and when), actions (buttons), attachments (files) and a visibility: the channel, private to the
user who asked, or the thread of a subject. A `Form` is a dialog: fields with kinds, labels,
choices, initial values, and the errors of a submission shown beside each field."""
from __future__ import annotations

import base64
import re
from dataclasses import asdict, dataclass, field
from typing import Iterable, Iterator, Union

CHANNEL, PRIVATE, THREAD = "channel", "private", "thread"

# Icon names the bot uses, and the character that shows each where names are not read.
ICONS = {
    "rotating_light": "🚨", "white_check_mark": "✅", "memo": "📝", "warning": "⚠️", "large_orange_diamond": "🔶",
    "bust_in_silhouette": "👤", "pencil2": "✏️", "no_entry": "⛔", "grey_question": "❔", "alarm_clock": "⏰",
    "red_circle": "🔴", "calendar": "📅", "bar_chart": "📊", "hourglass": "⏳", "repeat": "🔁",
    "ballot_box_with_check": "☑️", "file_cabinet": "🗄️", "handshake": "🤝", "hourglass_flowing_sand": "⏳",
    "information_source": "ℹ️", "office": "🏢", "pushpin": "📌", "round_pushpin": "📍", "telephone_receiver": "📞",
    "wastebasket": "🗑️", "x": "❌", "inbox_tray": "📥", "lock": "🔒", "clipboard": "📋", "envelope": "✉️",
}
ICON = re.compile(r":([a-z0-9_+-]+):")


class _Spanned:
    def __add__(self, other) -> "Rich":
        return Rich((self, *as_rich(other)))

    def __radd__(self, other) -> "Rich":
        return Rich((*as_rich(other), self))


@dataclass(frozen=True)
class Person(_Spanned):
    """A user of a chat platform, by the platform's id (Slack U…, Teams Entra object id)."""

    id: str


@dataclass(frozen=True)
class Place(_Spanned):
    """A conversation (a channel), by the platform's id."""

    id: str


Span = Union[str, Person, Place]


class Rich(tuple):
    """Text with people and places in it: `"Acknowledged by " + Person(u) + " at 10:00"`."""

    def __new__(cls, spans: Iterable[Span] = ()) -> "Rich":
        merged: list[Span] = []
        for s in spans:
            if isinstance(s, Rich):
                for inner in s:
                    _append(merged, inner)
            elif isinstance(s, (str, Person, Place)):
                _append(merged, s)
            elif s is not None:
                _append(merged, str(s))
        return super().__new__(cls, merged)

    def __add__(self, other) -> "Rich":
        return Rich((*self, *as_rich(other)))

    def __radd__(self, other) -> "Rich":
        return Rich((*as_rich(other), *self))

    def plain(self, person: str = "@{}", place: str = "#{}") -> str:
        return "".join(s if isinstance(s, str) else (person if isinstance(s, Person) else place).format(s.id)
                       for s in self)

    def __str__(self) -> str:  # for logs and equality with plain strings in tests
        return self.plain()

    def startswith(self, prefix: str) -> bool:
        return self.plain().startswith(prefix)

    def __contains__(self, item) -> bool:
        return item in self.plain() if isinstance(item, str) else tuple.__contains__(self, item)


def _append(out: list[Span], span: Span) -> None:
    if isinstance(span, str):
        if not span:
            return
        if out and isinstance(out[-1], str):
            out[-1] = out[-1] + span
            return
    out.append(span)


def as_rich(value) -> Rich:
    if isinstance(value, Rich):
        return value
    if value is None:
        return Rich()
    if isinstance(value, (str, Person, Place)):
        return Rich((value,))
    return Rich(value)


def rich(*parts: Span | Rich) -> Rich:
    return Rich(parts)


def join(parts: Iterable[Span | Rich], sep: str = "\n") -> Rich:
    out: list[Span | Rich] = []
    for i, p in enumerate(parts):
        if i:
            out.append(sep)
        out.append(as_rich(p))
    return Rich(out)


def strings(value: Rich | str) -> Iterator[str]:
    """The plain strings of a text (what users may have typed into)."""
    for s in as_rich(value):
        if isinstance(s, str):
            yield s


@dataclass
class Action:
    """A button. `id` names what it does (the handler), `value` what it acts on (e.g. an alert id)."""

    id: str
    label: str
    value: str = ""
    style: str | None = None  # "primary" or "danger"
    url: str | None = None  # a link button opens this instead of calling the bot


@dataclass
class Attachment:
    name: str
    media_type: str
    content: bytes
    title: str | None = None


@dataclass
class Field:
    """One field of a form. kinds: text, multiline, choice, choices (many), datetime, date, number,
    person (a user of the platform), file, note (text shown, nothing asked)."""

    name: str
    kind: str
    label: str
    choices: list[tuple[str, str]] = field(default_factory=list)  # (value, label)
    required: bool = False
    initial: object = None
    hint: str | None = None
    placeholder: str | None = None
    max_length: int | None = None


@dataclass
class Form:
    """A dialog. `id` says which handler reads its submission; `meta` travels with it (e.g. the
    channel it was opened from); `errors` maps field names to what was wrong with a submission."""

    id: str
    title: str
    fields: list[Field]
    submit: str = "Save"
    meta: str = ""
    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class Message:
    text: Rich | str = ""
    headline: Rich | str | None = None
    # Further paragraphs, each its own block (an agenda's sections); `text` is the first.
    sections: list[Rich | str] = field(default_factory=list)
    facts: list[tuple[str, Rich | str]] = field(default_factory=list)
    notes: list[Rich | str] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    form: Form | None = None
    visibility: str = PRIVATE
    # Names the message's subject for the platform (e.g. "alert:12": the group of its buttons).
    ref: str | None = None

    def __post_init__(self) -> None:
        self.text = as_rich(self.text)
        if self.headline is not None:
            self.headline = as_rich(self.headline)
        self.facts = [(label, as_rich(v)) for label, v in self.facts]
        self.notes = [as_rich(n) for n in self.notes]
        self.sections = [as_rich(p) for p in self.sections]

    def summary(self) -> str:
        """One plain line: the notification text platforms show outside the conversation."""
        first = self.headline if self.headline else self.text
        line = as_rich(first).plain().split("\n", 1)[0]
        line = ICON.sub("", line).replace("*", "").replace("`", "").strip()
        return line[:300]

    def all_text(self) -> Iterator[Rich]:
        if self.headline:
            yield self.headline
        yield self.text
        yield from self.sections
        for label, value in self.facts:
            yield as_rich(label)
            yield value
        yield from self.notes
        for a in self.actions:
            yield as_rich(a.label)
        for att in self.attachments:
            if att.title:
                yield as_rich(att.title)

    def map_strings(self, fn) -> "Message":
        """A copy with `fn` applied to every plain string (used by the channel rule, store/channel_rule.py)."""
        def m(r):
            return Rich(fn(s) if isinstance(s, str) else s for s in as_rich(r))

        return Message(
            text=m(self.text), headline=m(self.headline) if self.headline else self.headline,
            sections=[m(p) for p in self.sections],
            facts=[(fn(label), m(v)) for label, v in self.facts], notes=[m(n) for n in self.notes],
            actions=[Action(a.id, fn(a.label), a.value, a.style, a.url) for a in self.actions],
            attachments=[Attachment(a.name, a.media_type, a.content, fn(a.title) if a.title else a.title)
                         for a in self.attachments],
            form=self.form, visibility=self.visibility, ref=self.ref)

    # -- storage ---------------------------------------------------------------------------
    def to_json(self) -> dict:
        out: dict = {"text": _rich_json(self.text), "visibility": self.visibility}
        if self.headline:
            out["headline"] = _rich_json(self.headline)
        if self.sections:
            out["sections"] = [_rich_json(p) for p in self.sections]
        if self.facts:
            out["facts"] = [[label, _rich_json(v)] for label, v in self.facts]
        if self.notes:
            out["notes"] = [_rich_json(n) for n in self.notes]
        if self.actions:
            out["actions"] = [{k: v for k, v in asdict(a).items() if v is not None} for a in self.actions]
        if self.attachments:
            out["attachments"] = [{"name": a.name, "media_type": a.media_type, "title": a.title,
                                   "content": base64.b64encode(a.content).decode("ascii")} for a in self.attachments]
        if self.ref:
            out["ref"] = self.ref
        if self.form is not None:
            out["form"] = asdict(self.form)
        return out

    @classmethod
    def from_json(cls, data: dict) -> "Message":
        form = None
        if data.get("form"):
            f = dict(data["form"])
            f["fields"] = [Field(**{**fd, "choices": [tuple(c) for c in fd.get("choices") or []]})
                           for fd in f.get("fields") or []]
            form = Form(**f)
        return cls(
            text=_rich_load(data.get("text")), headline=_rich_load(data["headline"]) if data.get("headline") else None,
            sections=[_rich_load(p) for p in data.get("sections") or []],
            facts=[(label, _rich_load(v)) for label, v in data.get("facts") or []],
            notes=[_rich_load(n) for n in data.get("notes") or []],
            actions=[Action(**a) for a in data.get("actions") or []],
            attachments=[Attachment(a["name"], a["media_type"], base64.b64decode(a["content"]), a.get("title"))
                         for a in data.get("attachments") or []],
            form=form, visibility=data.get("visibility", PRIVATE), ref=data.get("ref"))


def _rich_json(value: Rich | str) -> list | str:
    r = as_rich(value)
    if all(isinstance(s, str) for s in r):
        return "".join(r)
    return [s if isinstance(s, str) else ({"person": s.id} if isinstance(s, Person) else {"place": s.id}) for s in r]


def _rich_load(value) -> Rich:
    if value is None:
        return Rich()
    if isinstance(value, str):
        return Rich((value,))
    return Rich(s if isinstance(s, str) else (Person(s["person"]) if "person" in s else Place(s["place"]))
                for s in value)


def message(value: "Message | Rich | str") -> Message:
    return value if isinstance(value, Message) else Message(text=value)


# -- the text rendering (the console, email bodies, logs of tests) ------------------------------
def text_of(value: Rich | str, *, icons: bool = True) -> str:
    """Neutral markup to terminal text: icons as characters, no markup characters."""
    out = as_rich(value).plain()
    if icons:
        out = ICON.sub(lambda m: ICONS.get(m.group(1), m.group(0)), out)
    return out.replace("*", "").replace("`", "")


def to_text(msg: Message) -> list[str]:
    """A message as lines of text."""
    lines: list[str] = []
    if msg.headline:
        lines.append(text_of(msg.headline))
    if msg.text:
        lines += text_of(msg.text).split("\n")
    for p in msg.sections:
        lines += text_of(p).split("\n")
    for label, value in msg.facts:
        lines.append(f"  {label}: {text_of(value)}")
    for note in msg.notes:
        lines.append("  " + text_of(note))
    if msg.actions:
        lines.append("  " + " ".join(f"[{a.label}]" for a in msg.actions))
    for att in msg.attachments:
        lines.append(f"  (file: {att.name}, {len(att.content):,} bytes)")
    if msg.form is not None:
        lines.append(f"  (form: {msg.form.title}: " + ", ".join(f.label for f in msg.form.fields if f.kind != "note") + ")")
    return [line for line in lines if line.strip()]
