"""A table's window: the first rows of its first files (plan order) that its samples, distinct counts,
sampled profiles and (CSV) inferred types come from, bounded by NUVYN_PROFILE_MAX_ROWS (Parquet, ORC)
or by the CSV inference sample (NUVYN_INFER_SAMPLE_FILES files, max(NUVYN_INFER_SAMPLE_RECORDS,
NUVYN_PROFILE_MAX_ROWS) records). Plain Python: no Spark, no storage.

A run records what its window gave (`Window`, kept with the table's first file's record,
executor.metadata.incremental); a later incremental run whose table changed reuses it instead of
reading the window again when the window is provably the same (`WindowSlot.usable`):
  - the earlier window's files are the first of the table's candidate files now, in the same order,
    and each is unchanged (identity and rules equal its record: the same rows);
  - the earlier read filled its budget (the rows after its last file never mattered), or it read every
    candidate file and the candidates are exactly those files now (nothing was added, removed or
    reordered among them);
  - the columns profiled (names and types: Parquet's first file, ORC's first file) and the columns that
    already had a note before the read (no values read for them) are the same.
What the window does not decide is computed as in a full run: row counts, profile scope (exact when
the rows profiled are all the table's rows), footer/log statistics (exact null count, min, max),
nullability, partition columns, CSV header and dialect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from executor.metadata.profile import PROFILE_EXACT, PROFILE_SAMPLED, ColumnProfile

WINDOW_FORMAT = 1  # bump when what a Window holds or means changes: older windows are then not used


@dataclass
class Window:
    """What one table's window gave: enough to fill its sampled parts again without reading it."""

    files: list[str]  # relative paths of the files whose rows were read, in plan order
    filled: bool  # the rows read reached the budget: files after the last did not matter
    seen: int  # rows profiled
    names_types: list[tuple[str, str]]  # the columns profiled (CSV: the inferred (Spark name, type))
    noted: list[str] = field(default_factory=list)  # profiled columns that had a note before the read
    # column -> (profile values (null, distinct, min, max) or None, samples, whether its scope follows
    # the rows seen (False: always `sampled`, a column without values))
    columns: dict[str, tuple[list[Any] | None, list[str], bool]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # notes the read added (column -> why), in their order
    extra: dict[str, Any] = field(default_factory=dict)  # the reader's own (CSV: the sample's header)

    def profile(self, name: str, total: int) -> tuple[ColumnProfile, list[str]]:
        """Column `name`'s profile (scope from the rows seen against the table's `total` now) and samples."""
        values, samples, scoped = self.columns[name]
        scope = (PROFILE_EXACT if self.seen >= total else PROFILE_SAMPLED) if scoped else PROFILE_SAMPLED
        if values is None:
            return ColumnProfile(profile_scope=scope), list(samples)
        n, d, lo, hi = values
        return ColumnProfile(null_count=n, distinct_count=d, min_value=lo, max_value=hi, profile_scope=scope), \
            list(samples)

    def put(self, name: str, profile: ColumnProfile | None, samples: Sequence[str], scoped: bool = True) -> None:
        values = None if profile is None else [profile.null_count, profile.distinct_count, profile.min_value,
                                               profile.max_value]
        self.columns[name] = (values, list(samples), scoped)

    def to_json(self) -> dict[str, Any]:
        return {"format": WINDOW_FORMAT, "files": self.files, "filled": self.filled, "seen": self.seen,
                "names_types": [list(nt) for nt in self.names_types], "noted": self.noted,
                "columns": {n: [v, s, sc] for n, (v, s, sc) in self.columns.items()},
                "notes": [[k, v] for k, v in self.notes.items()],  # a list: the order survives sort_keys
                "extra": self.extra}

    @classmethod
    def from_json(cls, data: Any) -> Window | None:
        """The window a record holds, or None (none, or of another format: the window is read)."""
        if not isinstance(data, dict) or data.get("format") != WINDOW_FORMAT:
            return None
        try:
            return cls(files=[str(f) for f in data["files"]], filled=bool(data["filled"]), seen=int(data["seen"]),
                       names_types=[(str(n), str(t)) for n, t in data["names_types"]],
                       noted=[str(n) for n in data["noted"]],
                       columns={str(n): (v, list(s), bool(sc)) for n, (v, s, sc) in data["columns"].items()},
                       notes={str(k): str(v) for k, v in data["notes"]}, extra=dict(data["extra"]))
        except (KeyError, TypeError, ValueError):
            return None


def share_files(rows: Sequence[int], share: int, budget: int) -> int:
    """How many of a table's first files (plan order) its window is when each file gives its first
    min(rows, share) rows (JSON, XML: the facts step keeps each file's share of NUVYN_PROFILE_MAX_ROWS),
    until `budget` rows; `rows`: each file's rows (one sample entry per row)."""
    got = 0
    for i, n in enumerate(rows):
        got += min(n, share)
        if got >= budget:
            return i + 1
    return len(rows)


@dataclass
class WindowSlot:
    """One table's window in a run: the earlier run's (`prior`, set by an incremental run when its files
    and record are unchanged) and this run's (`out`, recorded for the next run)."""

    relative: Mapping[str, str]  # uri -> relative path, of the table's files
    prior: Window | None = None
    unchanged: frozenset[str] = frozenset()  # relative paths of the files restored from the record
    out: Window | None = None
    reused: bool = False  # the window came from the record: nothing of it was read
    read: list[str] = field(default_factory=list)  # relative paths of the files the window read
    share: int | None = None  # the rows each file may give the sample (JSON: plan.sample_share), when known

    def usable(self, candidates: Sequence[str], names_types: Sequence[tuple[str, str]] | None = None,
               noted: Sequence[str] | None = None) -> Window | None:
        """The earlier window when it is provably this run's window (module doc); `candidates`: the uris
        the window would read from, in order; `names_types`/`noted`: what this run profiles (None: the
        reader derives them from the window itself, as CSV's types)."""
        w = self.prior
        if w is None or not w.files:
            return None
        paths = [self.relative.get(u) for u in candidates]
        n = len(w.files)
        if paths[:n] != w.files or not set(w.files) <= self.unchanged:
            return None
        if not w.filled and len(paths) != n:
            return None
        if names_types is not None and [tuple(x) for x in names_types] != w.names_types:
            return None
        if noted is not None and sorted(noted) != w.noted:
            return None
        return w

    def use(self, window: Window) -> None:
        """The earlier window is this run's: recorded again, nothing read."""
        self.out, self.reused = window, True

    def record(self, window: Window) -> None:
        """This run read its window: recorded for the next run."""
        self.out, self.reused, self.read = window, False, list(window.files)
