"""How the council alerts read (bot/protocol/councils.py): whom to tell, and how to reach them.

The contact is the other council's (from the protocol file), never the child's; the channel
still sees only the case reference and label."""
from __future__ import annotations

from bot.protocol import councils as rules

EVENT_WORDS = {"missing": "has gone missing", "returned": "has returned"}


def headline(alert, child_txt: str) -> tuple[str, str, str]:
    """(emoji headline, what happened, what the protocol asks) of a council alert."""
    d = alert.detail or {}
    council = d.get("council") or "the other council"
    if alert.rule == rules.RI_CONFIRM:
        return (f":telephone_receiver: Confirm the return interview with {council}: {child_txt}",
                f"returned; the child is placed here by {council}, whose return interview it is",
                f"confirm that {council} has arranged the return interview, and record its outcome when known")
    event = d.get("event", "missing")
    if d.get("role") == "host":
        return (f":round_pushpin: Tell the host council, {council}: {child_txt}",
                f"{EVENT_WORDS.get(event, event)} while placed in {council}'s area",
                f"tell {council} children's services and its police that the child is missing")
    asks = f"notify the placing council, {council}: it is responsible for the child"
    if event == "returned":
        asks += {"confirm": ", and the return interview is theirs to arrange",
                 "ours": "; we hold the return interview as usual",
                 "none": ", and the return interview is theirs"}.get(d.get("interviews", ""), "")
    return (f":office: Notify {council}: {child_txt}",
            f"{EVENT_WORDS.get(event, event)}; the child is placed here by {council}", asks)


def contact_line(alert) -> str | None:
    d = alert.detail or {}
    if alert.rule != rules.COUNCIL_NOTIFY:
        return None
    ways = [w for w in (d.get("email"), d.get("phone")) if w]
    line = f"*Contact:* {d.get('council')}: {', '.join(ways)}" if ways else (
        f"*Contact:* no contact for {d.get('council')} in the protocol file (`[[authorities]]`)")
    if d.get("emailed"):
        line += f"\n:envelope: The bot is emailing {d['emailed']} as well; still tell them by phone if the child is at risk."
    return line


def done_words(alert) -> tuple[str, str]:
    """(button text, what the record line says) for the acknowledgement of a council alert."""
    if alert.rule == rules.RI_CONFIRM:
        return "Confirmed", "Confirmed with the placing council by"
    return "Notified", f"{(alert.detail or {}).get('council', 'The council')} notified by"
