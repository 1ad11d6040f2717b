"""The HTTP edge of `POST /slack/events`: size, then signature, then parsing, then replays.

In that order, so nothing unsigned reaches a parser:
1. size: the body is read in chunks and refused (413) as soon as it passes `MAX_BODY`
   (a Content-Length over it is refused before reading anything); a 50 MB body is never held.
2. signature: `X-Slack-Request-Timestamp` must be a number within five minutes of now and
   `X-Slack-Signature` Slack's HMAC of `v0:<timestamp>:<body>` with the signing secret (401).
3. parsing: the body must be UTF-8 form data (a slash command, or one `payload` field of JSON
   for interactivity) or a JSON object (events), nesting at most `MAX_DEPTH` deep (400).
4. replay: a (timestamp, signature) pair is accepted once, recorded in the database so every
   process knows (store/requests.py); a replay gets 200 and is not run. An event Slack
   retries (`X-Slack-Retry-Num`) is recognised by its `event_id`.

A refusal is logged as one line: method, path, size, reason. Never the body."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import AsyncIterator, Callable
from urllib.parse import parse_qsl

log = logging.getLogger("missing-bot.edge")

MAX_BODY = 1024 * 1024  # Slack's payloads are a few kB; a view submission tops out well under this
MAX_DEPTH = 64  # Block Kit nests a dozen levels at most
WINDOW = 5 * 60  # seconds either side of now a signature's timestamp may be
REPLAY_TEXT = ("This request was already received, so it was not run again. "
               "If you meant to do it twice, type the command again.")


@dataclass
class Refused(Exception):
    status: int
    reason: str


@dataclass
class Accepted:
    body: bytes
    parsed: dict
    replay: bool = False


async def read_limited(headers, stream: AsyncIterator[bytes], limit: int = MAX_BODY) -> bytes:
    declared = headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise Refused(400, "bad content-length")
        if int(declared) > limit:
            raise Refused(413, "body too large")
    chunks, size = [], 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise Refused(413, "body too large")
        chunks.append(chunk)
    return b"".join(chunks)


def verify(secret: str, headers, body: bytes, wall: float) -> tuple[str, str]:
    ts = headers.get("x-slack-request-timestamp") or ""
    sig = headers.get("x-slack-signature") or ""
    if not ts or not sig:
        raise Refused(401, "unsigned")
    if not (ts.isascii() and ts.isdigit()) or len(ts) > 12:
        raise Refused(401, "bad timestamp")
    if abs(wall - int(ts)) > WINDOW:
        raise Refused(401, "stale timestamp")
    expected = "v0=" + hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    if not sig.isascii() or not hmac.compare_digest(expected, sig):
        raise Refused(401, "bad signature")
    return ts, sig


def _depth_ok(value, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return True


def _json(text: str, what: str) -> dict:
    # Count brackets before parsing: a 5,000-deep document must not reach the recursive parser.
    depth = best = 0
    in_str = esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            best = max(best, depth)
            if best > MAX_DEPTH:
                raise Refused(400, f"{what} nested too deep")
        elif ch in "]}":
            depth -= 1
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise Refused(400, f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise Refused(400, f"{what} is not a JSON object")
    return value


def parse(headers, body: bytes) -> dict:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "body is not UTF-8") from None
    ctype = (headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype == "application/json":
        return _json(text, "body")
    if ctype != "application/x-www-form-urlencoded":
        raise Refused(400, "unsupported content-type")
    try:
        fields = dict(parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), errors="strict",
                                max_num_fields=200))
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "body is not form data") from None
    if "payload" in fields:
        payload = _json(fields["payload"], "payload")
        if not isinstance(payload.get("type"), str):
            raise Refused(400, "payload has no type")
        return payload
    if "command" in fields or fields.get("ssl_check") == "1":
        return fields
    raise Refused(400, "form data is neither a command nor a payload")


def replay_key(parsed: dict, headers, ts: str, sig: str) -> str:
    event_id = parsed.get("event_id")
    if headers.get("x-slack-retry-num") and isinstance(event_id, str) and event_id:
        return f"event:{event_id}"[:100]
    return "sig:" + hashlib.sha256(f"{ts}:{sig}".encode()).hexdigest()


class Edge:
    """The checks in order; `first_time(key)` records a request (in the database) and says whether it is new."""

    def __init__(self, secret: str, first_time: Callable[[list[str]], bool], wall: Callable[[], float] = time.time,
                 limit: int = MAX_BODY) -> None:
        self.secret, self.first_time, self.wall, self.limit = secret, first_time, wall, limit

    async def check(self, method: str, path: str, headers, stream: AsyncIterator[bytes]) -> Accepted:
        size = headers.get("content-length") or "?"
        try:
            body = await read_limited(headers, stream, self.limit)
            size = str(len(body))
            ts, sig = verify(self.secret, headers, body, self.wall())
            parsed = parse(headers, body)
        except Refused as exc:
            log.warning("refused %s %s size=%s: %s", method, path, size[:12], exc.reason)
            raise
        keys = [replay_key(parsed, headers, ts, sig)]
        if isinstance(parsed.get("event_id"), str) and parsed["event_id"] and not keys[0].startswith("event:"):
            keys.append(f"event:{parsed['event_id']}"[:100])
        new = self.first_time(keys)
        if not new:
            log.info("replay %s %s size=%s: answered, not run%s", method, path, size,
                     " (Slack retry)" if headers.get("x-slack-retry-num") else "")
        return Accepted(body=body, parsed=parsed, replay=not new)


def db_first_time(services, wall: Callable[[], float] = time.time) -> Callable[[list[str]], bool]:
    """Record the keys in one transaction; new only when none of them was there (store/requests.py)."""
    from store.requests import Recorder

    recorder = Recorder(services.engine)

    def check(keys: list[str]) -> bool:
        return recorder.record(keys, datetime.fromtimestamp(wall(), timezone.utc))

    return check
