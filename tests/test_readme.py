"""The README stays true: every setting is documented, and its two front-door commands exist."""
from pathlib import Path

from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_in_the_configuration_table():
    readme = (ROOT / "README.md").read_text()
    for name in Settings.model_fields:
        assert f"`{name.upper()}`" in readme, f"README does not document {name.upper()}"


def test_front_door_commands_match_the_makefile_and_ci():
    readme = (ROOT / "README.md").read_text()
    makefile = (ROOT / "Makefile").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make try" in readme and "make test" in readme
    assert "\ntry:" in makefile and "\ntest:" in makefile
    assert "make test" in ci and "TEST_DATABASE_URL=postgresql" in ci


def test_the_readme_protocol_example_is_valid():
    import re

    from bot.protocol.config import parse_protocol
    import tomllib

    readme = (ROOT / "README.md").read_text()
    example = re.search(r"```toml\n(.*?)```", readme, re.S).group(1)
    protocol = parse_protocol(tomllib.loads(example))
    assert protocol.meetings and protocol.persistence[0].days == 30
    assert (ROOT / "docs" / "protocol.example.toml").read_text() == example


def test_protocol_file_errors_name_the_key(tmp_path):
    import pytest

    from bot.protocol.config import ProtocolError, load_protocol

    bad = tmp_path / "p.toml"
    bad.write_text("interview_hours = -1\n")
    with pytest.raises(ProtocolError) as err:
        load_protocol(bad)
    assert "interview_hours" in str(err.value)
    bad.write_text("[[persistence]]\nepisodes = 3\n")
    with pytest.raises(ProtocolError) as err:
        load_protocol(bad)
    assert "persistence.0.days" in str(err.value)
