"""The README documents every setting and every column of the four tables (kept in sync with code)."""

from __future__ import annotations

from pathlib import Path

from executor.settings import Settings
from executor.storage.schema import TABLE_COLUMNS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented():
    missing = [env for env, _default, _desc in Settings.describe() if f"`{env}`" not in README]
    assert missing == []


def _section(text: str, heading: str) -> str:
    return text.split(heading, 1)[1].split("\n## ", 1)[0]


def test_every_typed_setting_has_a_row_in_the_settings_table_that_owns_it():
    """The job's settings in README's table (the reader sandbox's too), the API server's in docs/API.md's:
    each variable of every settings class is a row `| `VAR` |` there."""
    from executor.settings import (
        SETTINGS_CLASSES,
        ApiSettings,
        FileModeSettings,
        JobInputSettings,
        LogSettings,
        ReadPoolSettings,
        ReadSettings,
        SandboxSettings,
        SourceGuardSettings,
    )

    docs = README
    api = (Path(__file__).resolve().parents[2] / "docs" / "API.md").read_text(encoding="utf-8")
    owners = {Settings: _section(docs, "## Settings"), LogSettings: _section(docs, "## Settings"),
              JobInputSettings: _section(docs, "## Settings"), FileModeSettings: _section(docs, "## Settings"),
              ApiSettings: _section(api, "## Settings"), ReadSettings: api, ReadPoolSettings: api,
              SourceGuardSettings: _section(docs, "## Settings") + _section(api, "## Settings"),
              SandboxSettings: _section(docs, "## Settings")}
    assert set(SETTINGS_CLASSES) <= set(owners)
    missing = [(cls.__name__, env) for cls, text in owners.items() for env, _d, _t in cls.describe()
               if f"| `{env}` |" not in text]
    assert missing == []


def test_every_table_column_is_documented():
    for table, columns in TABLE_COLUMNS.items():
        section = README.split(f"#### `{table}`", 1)[1].split("####", 1)[0]
        missing = [c.name for c in columns if f"| `{c.name}` |" not in section]
        assert missing == [], (table, missing)


def test_readme_starts_with_the_two_commands():
    head = README[:800]
    assert "make demo" in head and "make test" in head
