"""The agenda's posted summary as a neutral message: at most `max_rows` lines a section (the
full agenda goes with it as documents), within the limits every chat platform keeps."""
from __future__ import annotations

from bot.messages import Message, Rich
from bot.protocol.agenda import Agenda, Section

MAX_SECTION_TEXT = 2400  # characters of one section's text (Slack allows 3,000 after escaping)


def _row_line(s: Section, row: list) -> Rich:
    first, rest = row[0], row[1:]
    parts: list = [f"• *{first}* — "]
    for i, (col, val) in enumerate(zip(s.columns[1:], rest, strict=True)):
        parts.append(("; " if i else "") + f"{col.lower()}: ")
        parts.append(val)
    return Rich(parts)


def agenda_message(agenda: Agenda, max_rows: int = 10, document_note: str = "Full agenda attached.") -> Message:
    sections: list[Rich] = []
    for s in agenda.sections:
        lines: list[Rich | str] = [f"*{s.number}. {s.title}*"]
        if s.note:
            lines.append(s.note)
        if not s.rows:
            lines.append(s.empty)
        shown = 0
        for row in s.rows[:max_rows]:
            line = _row_line(s, row)
            if len(line.plain()) > 500:
                line = Rich((line.plain()[:500],))
            if sum(len(Rich((x,)).plain()) + 1 for x in lines) + len(line.plain()) > MAX_SECTION_TEXT - 80:
                break
            lines.append(line)
            shown += 1
        if shown < len(s.rows):
            lines.append(f"_…and {len(s.rows) - shown} more. {document_note}_")
        text = Rich(())
        for i, x in enumerate(lines):
            text = text + ("\n" if i else "") + x
        sections.append(text)
    return Message(headline=agenda.title, notes=[agenda.period], text=sections[0] if sections else "",
                   sections=sections[1:20], visibility="channel")
