"""The README documents every setting and every column of the four tables (kept in sync with code)."""

from __future__ import annotations

from pathlib import Path

from executor.settings import Settings
from executor.storage.schema import TABLE_COLUMNS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented():
    missing = [env for env, _default, _desc in Settings.describe() if f"`{env}`" not in README]
    assert missing == []


def test_every_table_column_is_documented():
    for table, columns in TABLE_COLUMNS.items():
        section = README.split(f"#### `{table}`", 1)[1].split("####", 1)[0]
        missing = [c.name for c in columns if f"| `{c.name}` |" not in section]
        assert missing == [], (table, missing)


def test_readme_starts_with_the_two_commands():
    head = README[:800]
    assert "make demo" in head and "make test" in head
