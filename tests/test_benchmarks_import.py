"""The benchmark scripts are not run by the suite (they take minutes), so a module they import from
the project can move without anyone noticing (bench-teams did, when the Slack app moved to
handlers/slack/). This reads every `from <project module> import <name>` in benchmarks/ and
checks that the module and the name exist."""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ("bot", "handlers", "scheduler", "store", "tests")


def test_every_project_import_in_the_benchmarks_resolves():
    missing, seen = [], 0
    for path in sorted((ROOT / "benchmarks").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PROJECT:
                seen += 1
                try:
                    module = importlib.import_module(node.module)
                except ImportError as exc:
                    missing.append(f"{path.name}:{node.lineno} {node.module} ({exc})")
                    continue
                missing += [f"{path.name}:{node.lineno} {node.module}.{a.name}" for a in node.names
                            if not hasattr(module, a.name) and not _submodule(node.module, a.name)]
    assert seen, "the scan found the benchmarks' imports"
    assert missing == []


def _submodule(module: str, name: str) -> bool:
    try:
        importlib.import_module(f"{module}.{name}")
    except ImportError:
        return False
    return True
