"""A Delta table's facts from its transaction log, without Spark and without reading data pages.

Log replay (the Delta protocol): the latest checkpoint named by `_delta_log/_last_checkpoint`
(single or multi-part Parquet; else the newest complete checkpoint found in the listing), then
every JSON commit after it in version order. The live files are the `add` actions not removed
later; `metaData` gives the schema (`schemaString`) and `partitionColumns`.

Protocol: the latest `protocol` action is checked before anything else. Reader version 1 and 2
(column mapping) are read; version 3 names its reader features, and a table needing one not in
SUPPORTED_READER_FEATURES fails with their names (as a reader that does not know them must).

Column mapping (`delta.columnMapping.mode` = name or id): columns are reported by their logical
names (the schema's `name`); data files, statistics and partition values use the physical names
(`delta.columnMapping.physicalName`), which `physical_names` maps to.

Row count: the sum of `numRecords` in the live files' `stats`, minus the rows their deletion
vectors delete (`deletionVector.cardinality`). A live file without `numRecords` has its Parquet
footer read (exact, no data pages). Column profile facts from the stats: `nullCount`,
`minValues`, `maxValues` (top-level columns) when every live file has them. Delta truncates
string min/max statistics (32 characters by default): those are then prefixes, not values.
Samples and profiles: the first rows of the first live files (Parquet), by their physical names.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from urllib.parse import unquote

from executor.errors import TableExtractionError
from executor.metadata.grouping import TablePlan
from executor.metadata.model import ColumnFacts, TableFacts
from executor.metadata.profile import PROFILE_EXACT, PROFILE_SAMPLED, ColumnProfiler
from executor.metadata.readers.arrow import arrow_profile
from executor.metadata.readers.base import FileFacts, FormatReader, TableContext
from executor.metadata.readers.parquet import apply_stats, parquet_batches
from executor.sources.base import FileInfo

_COMMIT_RE = re.compile(r"^(\d{20})\.json$")
_CHECKPOINT_RE = re.compile(r"^(\d{20})\.checkpoint(?:\.(\d{10})\.(\d{10}))?\.parquet$")

_PRIMITIVE = {"long": "bigint", "integer": "int", "short": "smallint", "byte": "tinyint"}


class DeltaLogError(ValueError):
    pass


# Reader features whose tables this reader reads exactly (protocol.readerFeatures, reader version 3):
#   columnMapping     logical names from the schema, physical names for files/stats/partitions
#   deletionVectors   deletionVector.cardinality is subtracted from numRecords
#   timestampNtz      a type in the schema (timestamp_ntz), nothing to do when reading the log
#   vacuumProtocolCheck, typeWidening(-preview): no effect on what the log says is live
# Not supported (the table fails naming them): v2Checkpoint (UUID-named checkpoints and sidecar
# files), and any feature this list does not name.
SUPPORTED_READER_FEATURES = frozenset({"columnMapping", "deletionVectors", "timestampNtz", "vacuumProtocolCheck",
                                       "typeWidening", "typeWidening-preview"})
MAX_READER_VERSION = 3


def check_protocol(protocol: dict[str, Any] | None) -> None:
    """Raise DeltaLogError when the table needs a reader version or feature not supported here."""
    if not protocol:
        return
    version = int(protocol.get("minReaderVersion") or 1)
    if version > MAX_READER_VERSION:
        raise DeltaLogError(f"Delta reader version {version} is not supported (up to {MAX_READER_VERSION})")
    features = protocol.get("readerFeatures") or []
    missing = sorted(set(features) - SUPPORTED_READER_FEATURES)
    if missing:
        raise DeltaLogError(f"Delta reader features not supported: {', '.join(missing)} (supported: "
                            f"{', '.join(sorted(SUPPORTED_READER_FEATURES))}); the table is not read")


def delta_type(t: Any) -> str:
    """Spark's simpleString of a Delta schemaString type."""
    if isinstance(t, str):
        return _PRIMITIVE.get(t, t)
    kind = t.get("type")
    if kind == "struct":
        return "struct<" + ",".join(f"{f['name']}:{delta_type(f['type'])}" for f in t["fields"]) + ">"
    if kind == "array":
        return f"array<{delta_type(t['elementType'])}>"
    if kind == "map":
        return f"map<{delta_type(t['keyType'])},{delta_type(t['valueType'])}>"
    raise DeltaLogError(f"unknown Delta type {t!r}")


@dataclass
class LiveFile:
    path: str
    size: int
    partition_values: dict[str, str | None]
    stats: dict[str, Any] | None
    dv_cardinality: int = 0


@dataclass
class DeltaFacts:
    version: int
    columns: list[tuple[str, str, bool]]  # (name, Spark type, nullable), in schema order
    partition_columns: list[str]
    files: list[LiveFile] = field(default_factory=list)
    physical_names: dict[str, str] = field(default_factory=dict)  # logical -> physical (top level)
    column_mapping: str = "none"  # delta.columnMapping.mode
    protocol: dict[str, Any] = field(default_factory=dict)

    def physical(self, name: str) -> str:
        return self.physical_names.get(name, name)

    @property
    def size_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def row_count(self, footer_rows: Callable[[LiveFile], int] | None = None) -> int:
        total = 0
        for f in self.files:
            n = f.stats.get("numRecords") if f.stats else None
            if n is None:
                if footer_rows is None:
                    raise DeltaLogError(f"no numRecords statistic for {f.path}")
                n = footer_rows(f)
            total += int(n) - f.dv_cardinality
        return total

    def column_stats(self, name: str) -> tuple[int | None, Any, Any]:
        """(null_count, min, max) of a top-level column over every live file; None where a file
        lacks the statistic (min/max: also for nested columns)."""
        nulls: int | None = 0
        lo: Any = None
        hi: Any = None
        have_min = have_max = bool(self.files)
        name = self.physical(name)
        for f in self.files:
            st = f.stats or {}
            n = (st.get("nullCount") or {}).get(name)
            if nulls is not None and isinstance(n, int) and f.dv_cardinality == 0:
                nulls += n
            else:
                nulls = None
            mn = (st.get("minValues") or {}).get(name)
            mx = (st.get("maxValues") or {}).get(name)
            if mn is None or isinstance(mn, dict):
                have_min = False
            elif have_min:
                lo = mn if lo is None or mn < lo else lo
            if mx is None or isinstance(mx, dict):
                have_max = False
            elif have_max:
                hi = mx if hi is None or mx > hi else hi
        if not self.files:
            nulls = 0
        return nulls, lo if have_min else None, hi if have_max else None


def _actions_from_json(fh: BinaryIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in fh.read().splitlines() if line.strip()]


def _actions_from_checkpoint(fh: BinaryIO) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(fh)
    wanted = [c for c in ("add", "remove", "metaData", "protocol") if c in pf.schema_arrow.names]
    out: list[dict[str, Any]] = []
    for batch in pf.iter_batches(columns=wanted, batch_size=10_000):
        for row in batch.to_pylist():
            for k in wanted:
                if row.get(k) is not None:
                    action = row[k]
                    if k == "add" and isinstance(action.get("partitionValues"), list):
                        action["partitionValues"] = dict(action["partitionValues"])
                    out.append({k: action})
    return out


def read_delta_log(log_files: list[FileInfo], open_file: Callable[[str], BinaryIO]) -> DeltaFacts:
    """Replay the log (files listed under _delta_log) to the latest version."""
    commits: dict[int, FileInfo] = {}
    checkpoints: dict[int, dict[tuple[int, int], FileInfo]] = {}
    last_checkpoint: FileInfo | None = None
    for info in log_files:
        name = info.name
        m = _COMMIT_RE.match(name)
        if m and "/" not in info.relative.split("_delta_log/", 1)[-1]:
            commits[int(m.group(1))] = info
            continue
        m = _CHECKPOINT_RE.match(name)
        if m:
            part = (int(m.group(2) or 1), int(m.group(3) or 1))
            checkpoints.setdefault(int(m.group(1)), {})[part] = info
            continue
        if name == "_last_checkpoint":
            last_checkpoint = info
    complete = {v: parts for v, parts in checkpoints.items()
                if len(parts) == next(iter(parts))[1]}
    start = -1
    if last_checkpoint is not None:
        try:
            with open_file(last_checkpoint.uri) as fh:
                v = int(json.loads(fh.read())["version"])
            if v in complete:
                start = v
        except Exception:  # noqa: BLE001 - fall back to the listing's newest checkpoint
            start = -1
    if start < 0 and complete:
        start = max(complete)
    if not commits and start < 0:
        raise DeltaLogError("the _delta_log holds no commit and no checkpoint")
    actions: list[dict[str, Any]] = []
    if start >= 0:
        for _part, info in sorted(complete[start].items()):
            with open_file(info.uri) as fh:
                actions.extend(_actions_from_checkpoint(fh))
    versions = sorted(v for v in commits if v > start)
    expected = start + 1
    for v in versions:
        if v != expected:
            raise DeltaLogError(f"the _delta_log is missing commit {expected} (found {v})")
        expected += 1
    for v in versions:
        with open_file(commits[v].uri) as fh:
            actions.extend(_actions_from_json(fh))
    version = versions[-1] if versions else start

    live: dict[str, LiveFile] = {}
    meta: dict[str, Any] | None = None
    protocol: dict[str, Any] | None = None
    for a in actions:
        if "protocol" in a and a["protocol"]:
            protocol = a["protocol"]
        elif "metaData" in a and a["metaData"]:
            meta = a["metaData"]
        elif "add" in a and a["add"]:
            add = a["add"]
            stats = add.get("stats")
            if isinstance(stats, str):
                try:
                    stats = json.loads(stats)
                except ValueError:
                    stats = None
            dv = add.get("deletionVector") or {}
            live[_key(add)] = LiveFile(add["path"], int(add.get("size") or 0),
                                       dict(add.get("partitionValues") or {}), stats,
                                       int(dv.get("cardinality") or 0))
        elif "remove" in a and a["remove"]:
            live.pop(_key(a["remove"]), None)
    check_protocol(protocol)
    if meta is None:
        raise DeltaLogError("the _delta_log holds no metaData action")
    schema = _schema_of(meta)
    columns = [(f["name"], delta_type(f["type"]), bool(f.get("nullable", True))) for f in schema["fields"]]
    config = meta.get("configuration") or {}
    if isinstance(config, list):  # a checkpoint's map column read as pairs
        config = dict(config)
    mode = str(config.get("delta.columnMapping.mode") or "none")
    physical: dict[str, str] = {}
    if mode in ("name", "id"):
        for f in schema["fields"]:
            md = f.get("metadata") or {}
            phys = md.get("delta.columnMapping.physicalName")
            if not phys:
                raise DeltaLogError(f"column mapping mode {mode} but column {f['name']!r} has no physical name")
            physical[f["name"]] = phys
    elif mode != "none":
        raise DeltaLogError(f"unknown delta.columnMapping.mode {mode!r}")
    files = sorted(live.values(), key=lambda f: f.path)
    if physical:  # partition values are keyed by physical names: report them by logical name
        logical = {p: n for n, p in physical.items()}
        for f in files:
            f.partition_values = {logical.get(k, k): v for k, v in f.partition_values.items()}
    return DeltaFacts(version=version, columns=columns,
                      partition_columns=list(meta.get("partitionColumns") or []),
                      files=files, physical_names=physical, column_mapping=mode, protocol=dict(protocol or {}))


def _schema_of(meta: dict[str, Any]) -> dict[str, Any]:
    """The metaData action's schema (its `schemaString`, a JSON struct), or DeltaLogError saying
    what is wrong with it."""
    text = meta.get("schemaString")
    if not isinstance(text, str):
        raise DeltaLogError("the _delta_log's metaData action has no schemaString (the table's schema): the log is "
                            "corrupt or not written by a Delta writer")
    try:
        schema = json.loads(text)
    except ValueError as exc:
        raise DeltaLogError(f"the _delta_log's metaData schemaString is not valid JSON ({exc})") from None
    fields = schema.get("fields") if isinstance(schema, dict) else None
    if not isinstance(fields, list) or not all(isinstance(f, dict) and "name" in f and "type" in f for f in fields):
        raise DeltaLogError("the _delta_log's metaData schemaString is not a struct whose fields have a name and a type")
    return schema


def _key(action: dict[str, Any]) -> str:
    dv = action.get("deletionVector") or {}
    return action["path"] + "\x1f" + str(dv.get("storageType", "")) + str(dv.get("pathOrInlineDv", ""))


class DeltaReader(FormatReader):
    """A folder holding `_delta_log` (grouping finds them): one table read from its log."""

    formats = ("delta",)
    file_facts_per_file = False

    def extract_table(self, ctx: TableContext, plan: TablePlan, facts: Mapping[str, FileFacts],
                      table: TableFacts) -> None:
        import pyarrow.parquet as pq

        if not plan.log_files:
            raise TableExtractionError(f"{plan.folder or '.'}: _delta_log is empty")
        s = ctx.settings
        root_uri = plan.log_files[0].uri.rsplit("/_delta_log/", 1)[0]
        log = read_delta_log(plan.log_files, ctx.store.open)

        def data_uri(path: str) -> str:
            if "://" in path or path.startswith("/"):
                raise TableExtractionError(f"Delta file outside the table folder ({path}): not supported")
            return f"{root_uri}/{unquote(path)}"

        def footer_rows(f: LiveFile) -> int:
            with ctx.store.open(data_uri(f.path)) as fh:
                return int(pq.ParquetFile(fh).metadata.num_rows)

        table.row_count = log.row_count(footer_rows)
        table.file_count = len(log.files)
        table.size_bytes = log.size_bytes
        table.partition_columns = list(log.partition_columns)
        parts = set(log.partition_columns)
        data_cols = [(n, t) for n, t, _ in log.columns if n not in parts]
        # column mapping: data files name columns by their physical names; report logical names
        phys_cols = [(log.physical(n), t) for n, t in data_cols]
        logical = {log.physical(n): n for n, _t in data_cols}
        phys_notes: dict[str, str] = {}
        phys_profiles, phys_samples = arrow_profile(ctx, plan.name, [data_uri(f.path) for f in log.files],
                                                    parquet_batches, phys_cols, table.row_count, phys_notes)
        profiles = {logical[p]: v for p, v in phys_profiles.items()}
        samples = {logical[p]: v for p, v in phys_samples.items()}
        table.column_notes.update({logical.get(p, p): v for p, v in phys_notes.items()})
        if any(p.profile_scope == PROFILE_SAMPLED for p in profiles.values()):
            apply_stats(profiles, data_cols, {n: log.column_stats(n) for n, _t in data_cols},
                        s.sample_value_max_chars)
        # partition columns: values from the log, exact over every live file
        for n in parts:
            values = [f.partition_values.get(n) for f in log.files]
            t = next(tt for nn, tt, _ in log.columns if nn == n)
            # a partition value is one per file: rows per file weight nulls and distincts
            p = ColumnProfiler(t, text=True, max_chars=s.sample_value_max_chars).add_all(values).result(PROFILE_EXACT)
            p.null_count = sum((f.stats or {}).get("numRecords", 0) - f.dv_cardinality
                               for f in log.files if f.partition_values.get(n) in (None, ""))
            profiles[n] = p
            samples[n] = ctx.samples(values)
        table.columns = [ColumnFacts(n, t, i + 1, nullable, samples.get(n, []), is_partition=n in parts)
                         .set_profile(profiles.get(n)) for i, (n, t, nullable) in enumerate(log.columns)]
