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
