"""Schema drift between two runs of a workflow: which tables were added or removed, and per table
which columns were added, removed, retyped or changed nullability. Pure (rows in, dict out).

Tables are matched by `table_name`, columns by `column_name` (names are exact, case-sensitive).
A table whose `schema_fingerprint` is equal in both runs is unchanged without looking at its
columns. A table that failed in either run is reported under `tables_failed` (its columns are
not known), not as changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

OK = "ok"


def _by_table(tables: Iterable[dict[str, Any]], columns: Iterable[dict[str, Any]],
              ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, dict[str, Any]]]]:
    t = {r["table_name"]: r for r in tables}
    c: dict[str, dict[str, dict[str, Any]]] = {}
    for r in columns:
        c.setdefault(r["table_name"], {})[r["column_name"]] = r
    return t, c


def _col(r: dict[str, Any]) -> dict[str, Any]:
    return {"column_name": r["column_name"], "data_type": r.get("data_type"), "is_nullable": r.get("is_nullable"),
            "position": r.get("position")}


def diff_tables(from_tables: Iterable[dict[str, Any]], from_columns: Iterable[dict[str, Any]],
                to_tables: Iterable[dict[str, Any]], to_columns: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The changes from one run's rows (tables, columns tables) to another's."""
    ft, fc = _by_table(from_tables, from_columns)
    tt, tc = _by_table(to_tables, to_columns)
    added = sorted(set(tt) - set(ft))
    removed = sorted(set(ft) - set(tt))
    changed: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    unchanged = 0
    for name in sorted(set(ft) & set(tt)):
        a, b = ft[name], tt[name]
        if (a.get("status") or OK) != OK or (b.get("status") or OK) != OK:
            failed.append({"table_name": name, "status_from": a.get("status"), "status_to": b.get("status"),
                           "error_message": b.get("error_message") or a.get("error_message")})
            continue
        fa, fb = a.get("schema_fingerprint"), b.get("schema_fingerprint")
        if fa is not None and fa == fb:
            unchanged += 1
            continue
        ca, cb = fc.get(name, {}), tc.get(name, {})
        retyped: list[dict[str, Any]] = []
        nullability: list[dict[str, Any]] = []
        moved: list[dict[str, Any]] = []
        entry: dict[str, Any] = {
            "table_name": name,
            "schema_fingerprint_from": fa,
            "schema_fingerprint_to": fb,
            "columns_added": [_col(cb[n]) for n in sorted(set(cb) - set(ca), key=lambda n: cb[n].get("position") or 0)],
            "columns_removed": [_col(ca[n]) for n in sorted(set(ca) - set(cb), key=lambda n: ca[n].get("position") or 0)],
            "columns_retyped": retyped,
            "nullability_changed": nullability,
            "columns_moved": moved,
        }
        for n in sorted(set(ca) & set(cb), key=lambda n: cb[n].get("position") or 0):
            x, y = ca[n], cb[n]
            if x.get("data_type") != y.get("data_type"):
                retyped.append({"column_name": n, "from_type": x.get("data_type"), "to_type": y.get("data_type")})
            if bool(x.get("is_nullable")) != bool(y.get("is_nullable")):
                nullability.append({"column_name": n, "from_nullable": x.get("is_nullable"),
                                    "to_nullable": y.get("is_nullable")})
            if x.get("position") != y.get("position"):
                moved.append({"column_name": n, "from_position": x.get("position"),
                              "to_position": y.get("position")})
        if any(entry[k] for k in ("columns_added", "columns_removed", "columns_retyped", "nullability_changed",
                                  "columns_moved")):
            changed.append(entry)
        else:
            unchanged += 1
    return {
        "tables_added": [{"table_name": n, "file_type": tt[n].get("file_type"),
                          "column_count": tt[n].get("column_count")} for n in added],
        "tables_removed": [{"table_name": n, "file_type": ft[n].get("file_type"),
                            "column_count": ft[n].get("column_count")} for n in removed],
        "tables_changed": changed,
        "tables_failed": failed,
        "tables_unchanged": unchanged,
    }


def has_changes(diff: dict[str, Any]) -> bool:
    return bool(diff.get("tables_added") or diff.get("tables_removed") or diff.get("tables_changed"))


def render_diff(result: dict[str, Any]) -> str:
    """Plain text: the two runs, then one line per change."""
    lines = [f"from run {result.get('from_run_id') or '-'} to run {result.get('to_run_id') or '-'}"]
    if result.get("message"):
        lines.append(result["message"])
    changes = result.get("changes") or {}
    for t in changes.get("tables_added", []):
        lines.append(f"+ table {t['table_name']} ({t.get('file_type')}, {t.get('column_count')} columns)")
    for t in changes.get("tables_removed", []):
        lines.append(f"- table {t['table_name']}")
    for t in changes.get("tables_changed", []):
        lines.append(f"~ table {t['table_name']}")
        for c in t["columns_added"]:
            lines.append(f"    + {c['column_name']} {c['data_type']}")
        for c in t["columns_removed"]:
            lines.append(f"    - {c['column_name']} {c['data_type']}")
        for c in t["columns_retyped"]:
            lines.append(f"    ~ {c['column_name']}: {c['from_type']} -> {c['to_type']}")
        for c in t["nullability_changed"]:
            lines.append(f"    ~ {c['column_name']}: nullable {c['from_nullable']} -> {c['to_nullable']}")
        for c in t["columns_moved"]:
            lines.append(f"    ~ {c['column_name']}: position {c['from_position']} -> {c['to_position']}")
    for t in changes.get("tables_failed", []):
        lines.append(f"! table {t['table_name']} failed in one run: {t.get('error_message')}")
    if changes and not has_changes(changes):
        lines.append(f"no schema changes ({changes.get('tables_unchanged', 0)} tables unchanged)")
    return "\n".join(lines)
