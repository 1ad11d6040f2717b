"""Facts about the code's shape, checked by reading it (issue 10): Slack's wire lives only at the
Slack edge and its transport; the protocol core holds rules and data only."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from bot.messages import ICONS

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "scheduler", "store")
SLACK_EDGE = ("handlers/slack/", "scheduler/transports/slack")
SLACK_LIBS = ("slack_sdk", "slack_bolt")
# Slack's mention/broadcast syntax and Block Kit's section: built only at the Slack edge.
SLACK_MARKUP = re.compile(r"<@|<#[A-Z{]|<!(?!DOCTYPE|--)|[\"']type[\"']\s*:\s*[\"']section[\"']")


def modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if "/migrations/" not in rel:
                yield rel, path.read_text(encoding="utf-8")


def at_slack_edge(rel: str) -> bool:
    return rel.startswith(SLACK_EDGE)


def test_only_the_slack_edge_imports_slack():
    offenders = []
    for rel, source in modules():
        if at_slack_edge(rel):
            continue
        for node in ast.walk(ast.parse(source)):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{rel}:{node.lineno} {n}" for n in names if n.split(".")[0] in SLACK_LIBS]
    assert offenders == []


def test_no_slack_markup_is_built_outside_the_slack_edge():
    offenders = []
    for rel, source in modules():
        if at_slack_edge(rel):
            continue
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and SLACK_MARKUP.search(node.value):
                offenders.append(f"{rel}:{node.lineno} {node.value[:60]!r}")
    assert offenders == []


def test_the_protocol_core_holds_no_icons_and_no_markup():
    offenders = []
    for rel, source in modules():
        if not rel.startswith("bot/protocol/"):
            continue
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and (
                    any(f":{name}:" in node.value for name in ICONS) or SLACK_MARKUP.search(node.value)):
                offenders.append(f"{rel}:{node.lineno} {node.value[:60]!r}")
    assert offenders == []


def test_the_check_sees_what_it_looks_for():
    """The scans are not vacuous: the Slack edge itself is full of what they look for."""
    edge = {rel: source for rel, source in modules() if at_slack_edge(rel)}
    assert any("slack_sdk" in s or "slack_bolt" in s for s in edge.values())
    assert any(SLACK_MARKUP.search(s) for s in edge.values())
