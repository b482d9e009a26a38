"""A Delta table's facts from its transaction log, without Spark and without reading data pages.

Log replay (the Delta protocol): the newest complete checkpoint in the listing (UUID-named v2
checkpoints in JSON or Parquet, classic single-file checkpoints of v1 or v2 content, multi-part
checkpoints with every part present) and every JSON commit after it, in version order. The
listing already names every log file, so `_last_checkpoint` is not read: the newest complete
checkpoint listed is the one Delta's own reader ends up using. The checkpoint and the commits
are fetched together, each in one read (`fanout.fan_out` over the run's pool, the checkpoint
first), then the sidecar files (`_delta_log/_sidecars/`) a v2 checkpoint names. The live files
are the `add` actions not removed later (keyed by path and deletion vector id); `metaData` gives
the schema (`schemaString`) and `partitionColumns`.

Protocol: the latest `protocol` action is checked before the sidecars are read and the files
replayed. Reader version 1 and 2 (column mapping) are read; version 3 names its reader features,
and a table needing one not in SUPPORTED_READER_FEATURES fails with their names (as a reader that
does not know them must). Type widening: the schema's recorded type changes are checked against
the runtime's Delta (3.3 on Spark 3.5, 4.0 on Spark 4.0; check_type_changes), and a table that
Delta refuses fails with Delta's error class and text.

Column mapping (`delta.columnMapping.mode` = name or id): columns are reported by their logical
names (the schema's `name`); data files, statistics and partition values use the physical names
(`delta.columnMapping.physicalName`), which `physical_names` maps to.

Row count: the sum of `numRecords` in the live files' `stats`, minus the rows their deletion
vectors delete (`deletionVector.cardinality`). A live file without `numRecords` has its Parquet
footer read (exact, no data pages; in parallel). Column profile facts from the stats:
`nullCount`, `minValues`, `maxValues` (top-level columns) when every live file has them. Delta
truncates string min/max statistics (32 characters by default): those are then prefixes, not
values. Samples and profiles: the first rows of the first live files (Parquet), by their physical
names; the profile's small data files are fetched whole, a window ahead of its reads (_ReadAhead).
"""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO
from urllib.parse import unquote

from executor.errors import TableExtractionError
from executor.metadata.fanout import Task, fan_out
from executor.metadata.grouping import TablePlan
from executor.metadata.model import ColumnFacts, TableFacts
from executor.metadata.profile import PROFILE_EXACT, PROFILE_SAMPLED, ColumnProfiler
from executor.metadata.readers.arrow import arrow_profile
from executor.metadata.readers.base import FileFacts, FormatReader, TableContext
from executor.metadata.readers.parquet import apply_stats, parquet_batches
from executor.metadata.types.algebra import (
    BYTE,
    DATE,
    DOUBLE,
    FLOAT,
    INT,
    INTEGRAL,
    LONG,
    SHORT,
    TIMESTAMP_NTZ,
    DecimalType,
    SparkType,
    from_json,
)
from executor.sandbox.pool import ReaderSandbox
from executor.sources.base import FileInfo, FileStore, PruneRule

_COMMIT_RE = re.compile(r"^(\d{20})\.json$")

class DeltaLogError(ValueError):
    """The transaction log cannot be replayed (or the table cannot be read by the runtime's Delta)."""


Runner = Callable[[Callable[[Any], Any], Sequence[Any]], list[Any]]  # [fn(x) for x in items], maybe concurrently


# Reader features whose tables this reader reads exactly (protocol.readerFeatures, reader version 3):
#   columnMapping     logical names from the schema, physical names for files/stats/partitions
#   deletionVectors   deletionVector.cardinality is subtracted from numRecords
#   timestampNtz      a type in the schema (timestamp_ntz), nothing to do when reading the log
#   v2Checkpoint      UUID-named checkpoints (JSON or Parquet) and sidecar files (classify_log)
#   typeWidening(-preview): the recorded type changes are checked against the runtime's Delta
#                     (check_type_changes); a readable table reports its current (wider) types
#   vacuumProtocolCheck: no effect on what the log says is live
# Any other feature fails the table, naming it.
SUPPORTED_READER_FEATURES = frozenset({"columnMapping", "deletionVectors", "timestampNtz", "vacuumProtocolCheck",
                                       "typeWidening", "typeWidening-preview", "v2Checkpoint"})
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
    """Spark's simpleString of a Delta schemaString type (Spark's JSON form of a type)."""
    try:
        return from_json(t).simple_string()
    except ValueError as exc:
        raise DeltaLogError(f"unknown Delta type: {exc}") from None


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
    checkpoint: Checkpoint | None = None  # the checkpoint the replay started from
    log_files_read: int = 0  # checkpoint parts, sidecars and commits fetched

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


# ---------------------------------------------------------------------------------- the listing


_MULTI_RE = re.compile(r"^(\d{20})\.checkpoint\.(\d{10})\.(\d{10})\.parquet$")
_CLASSIC_RE = re.compile(r"^(\d{20})\.checkpoint\.parquet$")
_UUID_RE = re.compile(r"^(\d{20})\.checkpoint\.([^./]+)\.(json|parquet)$")
SIDECARS = "_sidecars"
_KIND_ORDER = {"uuid": 0, "classic": 1, "multi": 2}  # several checkpoints of one version: any will do


@dataclass(frozen=True)
class Checkpoint:
    """One complete checkpoint of `version`: a UUID-named (v2), classic or multi-part one."""

    version: int
    kind: str  # uuid | classic | multi
    parts: tuple[FileInfo, ...]


@dataclass
class LogListing:
    """The files under `_delta_log`, sorted by what they are (the table's listing has them all)."""

    commits: dict[int, FileInfo] = field(default_factory=dict)
    checkpoints: list[Checkpoint] = field(default_factory=list)  # complete ones only
    sidecars: dict[str, FileInfo] = field(default_factory=dict)  # by file name (_delta_log/_sidecars/)

    def newest_checkpoint(self) -> Checkpoint | None:
        if not self.checkpoints:
            return None
        return min(self.checkpoints, key=lambda c: (-c.version, _KIND_ORDER[c.kind]))


def classify_log(log_files: list[FileInfo]) -> LogListing:
    """Commits `<v>.json`, checkpoints (`<v>.checkpoint.parquet`, `<v>.checkpoint.<o>.<p>.parquet`
    with every part present, `<v>.checkpoint.<uuid>.json|parquet`) and sidecar files; anything
    else (`_last_checkpoint`, `.crc`, compacted or staged commits) is not needed to replay."""
    out = LogListing()
    multi: dict[int, dict[int, FileInfo]] = {}
    multi_of: dict[int, int] = {}
    for info in log_files:
        inside = info.relative.split("_delta_log/", 1)[-1]
        name = info.name
        if "/" in inside:
            if inside.startswith(SIDECARS + "/") and inside.count("/") == 1 and name.endswith(".parquet"):
                out.sidecars[name] = info
            continue
        if (m := _COMMIT_RE.match(name)):
            out.commits[int(m.group(1))] = info
        elif (m := _CLASSIC_RE.match(name)):
            out.checkpoints.append(Checkpoint(int(m.group(1)), "classic", (info,)))
        elif (m := _MULTI_RE.match(name)):
            v, part, total = int(m.group(1)), int(m.group(2)), int(m.group(3))
            if multi_of.setdefault(v, total) == total:  # parts of another count belong to another attempt
                multi.setdefault(v, {})[part] = info
        elif (m := _UUID_RE.match(name)):
            out.checkpoints.append(Checkpoint(int(m.group(1)), "uuid", (info,)))
    for v, parts in multi.items():
        if sorted(parts) == list(range(1, multi_of[v] + 1)):  # a multi-part checkpoint missing a part is ignored
            out.checkpoints.append(Checkpoint(v, "multi", tuple(parts[i] for i in sorted(parts))))
    return out


# ---------------------------------------------------------------------------------- parsing


_CHECKPOINT_COLUMNS = ("add.path", "add.size", "add.partitionValues", "add.stats", "add.deletionVector.storageType",
                       "add.deletionVector.pathOrInlineDv", "add.deletionVector.offset",
                       "add.deletionVector.cardinality", "remove.path", "remove.deletionVector.storageType",
                       "remove.deletionVector.pathOrInlineDv", "remove.deletionVector.offset", "metaData", "protocol",
                       "checkpointMetadata", "sidecar")


def _json_actions(data: bytes, where: str) -> list[dict[str, Any]]:
    out = []
    for i, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            action = json.loads(line)
        except ValueError as exc:
            raise DeltaLogError(f"{where}: line {i} is not valid JSON ({exc}); the log is corrupt") from None
        if not isinstance(action, dict):
            raise DeltaLogError(f"{where}: line {i} is not a JSON object; the log is corrupt")
        out.append(action)
    return out


def _leaf_paths(schema: Any) -> set[str]:
    """Every field path of an Arrow schema, dotted (`add`, `add.path`, `add.deletionVector.offset`)."""
    import pyarrow as pa

    out: set[str] = set()

    def walk(prefix: str, t: Any) -> None:
        if pa.types.is_struct(t):
            for i in range(t.num_fields):
                f = t.field(i)
                out.add(prefix + f.name)
                walk(prefix + f.name + ".", f.type)

    for f in schema:
        out.add(f.name)
        walk(f.name + ".", f.type)
    return out


def _parquet_actions(data: bytes, where: str) -> list[dict[str, Any]]:
    """The actions of a Parquet checkpoint or sidecar file (only the fields the replay needs)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(pa.BufferReader(data))
        have = _leaf_paths(pf.schema_arrow)
        wanted = [c for c in _CHECKPOINT_COLUMNS if c in have]
        if "add" in have and "add.stats" not in have and "add.stats_parsed" in have:
            wanted.append("add.stats_parsed")  # delta.checkpoint.writeStatsAsJson=false
        table = pf.read(columns=wanted)
    except Exception as exc:  # noqa: BLE001 - pyarrow's many error types: one clear message
        raise DeltaLogError(f"{where}: not a readable Parquet checkpoint ({str(exc).splitlines()[0][:200]})") from None
    out: list[dict[str, Any]] = []
    for name in table.column_names:
        for value in table.column(name).to_pylist():
            if value is None:
                continue
            if name in ("add", "remove", "metaData"):
                for k in ("partitionValues", "configuration"):
                    if isinstance(value.get(k), list):  # a map column comes as (key, value) pairs
                        value[k] = dict(value[k])
                if name == "add" and "stats" not in value and value.get("stats_parsed") is not None:
                    value["stats"] = value.pop("stats_parsed")
            out.append({name: value})
    return out


def _parse(info: FileInfo, data: bytes, sandbox: ReaderSandbox | None = None) -> list[dict[str, Any]]:
    where = info.relative or info.name
    if not info.name.endswith(".parquet"):
        return _json_actions(data, where)
    if sandbox is None:
        return _parquet_actions(data, where)
    return sandbox.run(_parquet_actions, data, where, path=where, reader="Parquet reader")  # pyarrow decodes it


# ---------------------------------------------------------------------------------- type widening

def _delta_type_or_none(t: Any) -> SparkType | None:
    try:
        return from_json(t.strip() if isinstance(t, str) else t)
    except ValueError:
        return None


def type_change_supported(from_type: Any, to_type: Any, delta_version: str) -> bool | None:
    """Whether the Delta release reads a table with this type change: True; None when only a newer
    release does (Delta 4.0 reads it, Delta 3.3 refuses it 'in preview'); False when no release
    does. Measured with delta-spark 3.3.2 and 4.0.0 on every pair of the protocol's list
    (tests/integration/test_delta_protocol_vs_spark.py)."""
    if not isinstance(from_type, str) or not isinstance(to_type, str):
        return False
    frm, to = _delta_type_or_none(from_type), _delta_type_or_none(to_type)
    if frm is None or to is None:
        return False
    if frm == to or (frm, to) in ((BYTE, SHORT), (BYTE, INT), (SHORT, INT)):
        return True  # Delta 3.2+ (typeWidening-preview)
    # Delta 4.0: the protocol's list (integral -> wider integral, float/integral -> double, date ->
    # timestamp_ntz, decimal(p,s) -> decimal(p+k1,s+k2) with k1 >= k2 >= 0, integral -> decimal)
    wider = False
    if frm in INTEGRAL and to in INTEGRAL:
        wider = INTEGRAL.index(frm) < INTEGRAL.index(to)
    elif to is DOUBLE:
        wider = frm in (FLOAT, BYTE, SHORT, INT)
    elif frm is DATE:
        wider = to is TIMESTAMP_NTZ
    elif isinstance(to, DecimalType):
        base = (DecimalType(10, 0) if frm in (BYTE, SHORT, INT) else DecimalType(20, 0) if frm is LONG
                else frm if isinstance(frm, DecimalType) else None)
        if base is not None:
            k1, k2 = to.precision - base.precision, to.scale - base.scale
            wider = k1 >= k2 >= 0
    if not wider:
        return False
    return True if delta_version >= "4.0" else None


def _sql_type(t: Any) -> str:
    """The type as Delta's error text prints it (INT, BIGINT, DECIMAL(10,2), ARRAY<INT>)."""
    parsed = _delta_type_or_none(t)
    return parsed.simple_string().upper() if parsed is not None else str(t).upper()


def _struct_fields(t: Any) -> list[dict[str, Any]]:
    """The fields of the structs a type holds (itself, or through array elements and map keys/values)."""
    if not isinstance(t, dict):
        return []
    if t.get("type") == "struct":
        return list(t.get("fields") or [])
    if t.get("type") == "array":
        return _struct_fields(t.get("elementType"))
    if t.get("type") == "map":
        return _struct_fields(t.get("keyType")) + _struct_fields(t.get("valueType"))
    return []


def _type_changes(fields: list[dict[str, Any]], prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
    """(field path, change) for every `delta.typeChanges` entry of the schema, nested fields too."""
    out: list[tuple[str, dict[str, Any]]] = []
    for f in fields:
        path = prefix + f["name"]
        changes = (f.get("metadata") or {}).get("delta.typeChanges") or []
        if isinstance(changes, str):
            changes = json.loads(changes)
        out.extend((path, c) for c in changes if isinstance(c, dict))
        out.extend(_type_changes(_struct_fields(f.get("type")), path + "."))
    return out


def delta_version_of(spark_version: str) -> str:
    """The Delta release whose rules apply: delta-spark 3.x runs on Spark 3.5, 4.x on Spark 4.0
    (the session's version; a run without Spark uses the 3.5 rules, as its schema rules do)."""
    return "4.0" if spark_version >= "4" else "3.3"


def check_type_changes(protocol: dict[str, Any] | None, schema: dict[str, Any], spark_version: str) -> None:
    """Raise DeltaLogError, with Delta's error class and text, when the table's recorded type
    changes are not all readable by the runtime's Delta (only when it supports type widening)."""
    features = set((protocol or {}).get("readerFeatures") or [])
    if not features & {"typeWidening", "typeWidening-preview"}:
        return
    delta = delta_version_of(spark_version)
    for path, change in _type_changes(schema.get("fields") or []):
        ok = type_change_supported(change.get("fromType"), change.get("toType"), delta)
        if ok:
            continue
        what = (f"Field {path} was changed from {_sql_type(change.get('fromType'))} to "
                f"{_sql_type(change.get('toType'))}.")
        if ok is None:
            raise DeltaLogError(f"[DELTA_UNSUPPORTED_TYPE_CHANGE_IN_PREVIEW] This table can't be read by this "
                                f"version of Delta because an unsupported type change was applied. {what} Delta "
                                f"{delta} (the runtime's, Spark {spark_version}) refuses it; Delta 4.0 reads it")
        raise DeltaLogError("[DELTA_UNSUPPORTED_TYPE_CHANGE_IN_SCHEMA] Unable to operate on this table because an "
                            f"unsupported type change was applied. {what}")


# ---------------------------------------------------------------------------------- the replay


def _serial(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    return [fn(item) for item in items]


def _read_whole(open_file: Callable[[str], BinaryIO], info: FileInfo) -> bytes:
    """A log file in one read (its size is known from the listing: one request on a remote store)."""
    with open_file(info.uri) as fh:
        data = fh.read(info.size) if info.size > 0 else b""
        return data + fh.read()  # at the end already: no request; a file longer than listed is read whole


def read_delta_log(log_files: list[FileInfo], open_file: Callable[[str], BinaryIO],
                   run: Runner | None = None, *, spark_version: str = "3.5",
                   sandbox: ReaderSandbox | None = None) -> DeltaFacts:
    """Replay the log (the files listed under _delta_log) to the latest version.

    The newest complete checkpoint in the listing and every commit after it are fetched together
    (`run(fn, items)` runs them concurrently: fanout.fan_out over the run's pool; the checkpoint
    first), then the sidecar files a v2 checkpoint names; the latest protocol is checked before
    the sidecars are read and the files replayed. Parquet checkpoints and sidecars are decoded in
    `sandbox` (the run's worker processes; None: in this process)."""
    run = run or _serial
    listing = classify_log(log_files)
    checkpoint = listing.newest_checkpoint()
    start = checkpoint.version if checkpoint else -1
    if not listing.commits and checkpoint is None:
        raise DeltaLogError("the _delta_log holds no commit and no checkpoint")
    versions = sorted(v for v in listing.commits if v > start)
    for expected, v in enumerate(versions, start + 1):
        if v != expected:
            raise DeltaLogError(f"the _delta_log is missing commit {expected} (found {v})")
    parts = list(checkpoint.parts) if checkpoint else []
    fetched = run(lambda info: _parse(info, _read_whole(open_file, info), sandbox), parts + [listing.commits[v] for v in versions])
    checkpoint_actions = [a for actions in fetched[: len(parts)] for a in actions]
    commit_actions = [a for actions in fetched[len(parts):] for a in actions]
    version = versions[-1] if versions else start

    protocol: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None
    for a in checkpoint_actions + commit_actions:  # the latest of each wins
        if a.get("protocol"):
            protocol = a["protocol"]
        elif a.get("metaData"):
            meta = a["metaData"]
    check_protocol(protocol)
    sidecars = [a["sidecar"] for a in checkpoint_actions if a.get("sidecar")]
    if sidecars:
        infos = []
        for sc in sidecars:
            name = unquote(str(sc.get("path") or "").rsplit("/", 1)[-1])
            if name not in listing.sidecars:
                raise DeltaLogError(f"the checkpoint of version {start} names sidecar file {name!r}, which is not in "
                                    f"_delta_log/{SIDECARS}/; the log is incomplete")
            infos.append(listing.sidecars[name])
        fetched = run(lambda info: _parse(info, _read_whole(open_file, info), sandbox), infos)
        checkpoint_actions += [a for actions in fetched for a in actions]

    live = _live_files(checkpoint_actions + commit_actions)
    if meta is None:
        raise DeltaLogError("the _delta_log holds no metaData action")
    schema = _schema_of(meta)
    try:
        check_type_changes(protocol, schema, spark_version)
        columns = [(f["name"], delta_type(f["type"]), bool(f.get("nullable", True))) for f in schema["fields"]]
    except (KeyError, TypeError, AttributeError) as exc:
        raise DeltaLogError(f"the latest metaData action's schemaString is not a Delta schema (missing or wrong "
                            f"{exc}); the log is corrupt") from None
    mode, physical = _column_mapping(meta, schema)
    files = sorted(live.values(), key=lambda f: f.path)
    if physical:  # partition values are keyed by physical names: report them by logical name
        logical = {p: n for n, p in physical.items()}
        for f in files:
            f.partition_values = {logical.get(k, k): v for k, v in f.partition_values.items()}
    return DeltaFacts(version=version, columns=columns,
                      partition_columns=list(meta.get("partitionColumns") or []),
                      files=files, physical_names=physical, column_mapping=mode, protocol=dict(protocol or {}),
                      checkpoint=checkpoint, log_files_read=len(parts) + len(versions) + len(sidecars))


def _live_files(actions: list[dict[str, Any]]) -> dict[str, LiveFile]:
    """The files live after replaying `actions` in order (add, then remove by path and deletion vector)."""
    live: dict[str, LiveFile] = {}
    for a in actions:
        for kind in ("add", "remove"):
            if a.get(kind) and not isinstance(a[kind].get("path"), str):
                raise DeltaLogError(f"an {kind} action without a path ({str(a[kind])[:200]}); the log is corrupt")
        if a.get("add"):
            add = a["add"]
            stats = add.get("stats")
            if isinstance(stats, str):
                try:
                    stats = json.loads(stats)
                except ValueError:
                    stats = None
            dv = add.get("deletionVector") or {}
            live[_key(add)] = LiveFile(add["path"], int(add.get("size") or 0),
                                       dict(add.get("partitionValues") or {}), stats if isinstance(stats, dict) else None,
                                       int(dv.get("cardinality") or 0))
        elif a.get("remove"):
            live.pop(_key(a["remove"]), None)
    return live


def _column_mapping(meta: dict[str, Any], schema: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The table's column mapping mode and each column's physical name (empty without mapping)."""
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
    return mode, physical


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
    if not isinstance(schema, dict) or not isinstance(fields, list) or not all(
            isinstance(f, dict) and "name" in f and "type" in f for f in fields):
        raise DeltaLogError("the _delta_log's metaData schemaString is not a Delta schema (a struct whose fields have a name and a type)")
    return schema


def _key(action: dict[str, Any]) -> str:
    """The logical file's key: its path and its deletion vector's unique id (Delta protocol)."""
    dv = action.get("deletionVector") or {}
    unique = f"{dv.get('storageType') or ''}{dv.get('pathOrInlineDv') or ''}"
    if dv.get("offset") is not None:
        unique += f"@{dv['offset']}"
    path: str = action["path"]
    return path + "\x1f" + unique


READ_AHEAD_FILE_BYTES = 32 * 1024 * 1024  # data files up to this size are fetched whole, ahead of the profile
READ_AHEAD_BYTES = 64 * 1024 * 1024  # fetched and not yet read, per table


def profile_file_limit(io_threads: int) -> int:
    """At most this many data files are read for a Delta table's samples and profile."""
    return max(4 * io_threads, 16)


class _ReadAhead:
    """A FileStore for the profile's reads: open() of a small live data file returns its bytes,
    fetched whole in the run's pool a few files ahead of the reader, in the profile's order (so
    its requests overlap: as many in flight as I/O threads, at most READ_AHEAD_BYTES held). The
    profile stops when it has its rows: files ahead of that are dropped unfetched (at most one
    window is fetched in vain). Other files and every other call go to the store."""

    def __init__(self, store: FileStore, pool: Executor | None, files: list[tuple[str, int]], window: int) -> None:
        self._store = store
        self._pool = pool
        self._order = [(uri, size) for uri, size in files if 0 < size <= READ_AHEAD_FILE_BYTES]
        self._index = {uri: i for i, (uri, _size) in enumerate(self._order)}
        self._window = max(window, 1)
        self._tasks: dict[int, Task] = {}
        self._next = 0
        self._lock = threading.Lock()  # the profile opens files from several pool threads at once
        self.kind = store.kind

    def _fetch(self, i: int) -> bytes:
        uri, size = self._order[i]
        return _read_whole(self._store.open, FileInfo(uri, uri, size))

    def _fill(self, first: int) -> None:
        """Fetches running for files `first`.. within the window; earlier ones dropped (under _lock:
        a task taken by open() is out of the dict, so it is never cancelled under its reader)."""
        for i in [i for i in self._tasks if i < first]:
            self._tasks.pop(i).cancel()
        self._next = max(self._next, first)
        held = sum(self._order[i][1] for i in self._tasks)
        while self._next < len(self._order) and len(self._tasks) < self._window \
                and (not self._tasks or held + self._order[self._next][1] <= READ_AHEAD_BYTES):
            self._tasks[self._next] = Task(self._pool, self._fetch, self._next)
            held += self._order[self._next][1]
            self._next += 1

    def start(self) -> _ReadAhead:
        with self._lock:
            self._fill(0)
        return self

    def close(self) -> None:
        with self._lock:
            for task in self._tasks.values():
                task.cancel()
            self._tasks.clear()

    def open(self, uri: str) -> BinaryIO:
        i = self._index.get(uri)
        if i is None:
            return self._store.open(uri)
        with self._lock:
            self._fill(i)
            task = self._tasks.pop(i, None) or Task(None, self._fetch, i)
        data = task.result()
        with self._lock:
            self._fill(i + 1)
        return io.BytesIO(data)

    def list_files(self, prune: PruneRule) -> Iterator[FileInfo]:
        return self._store.list_files(prune)

    def spark_uri(self, uri: str) -> str:
        return self._store.spark_uri(uri)

    def display(self, uri: str) -> str:
        return self._store.display(uri)

    def configure_spark(self, spark: Any) -> None:
        self._store.configure_spark(spark)

    def release(self) -> None:
        self._store.release()


def parquet_num_rows(fh: BinaryIO) -> int:
    """A data file's rows from its footer, as pyarrow reads it (a sandbox task)."""
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(fh).metadata.num_rows)


class DeltaReader(FormatReader):
    """A folder holding `_delta_log` (grouping finds them): one table read from its log."""

    formats = ("delta",)
    file_facts_per_file = False

    def extract_table(self, ctx: TableContext, plan: TablePlan, facts: Mapping[str, FileFacts],
                      table: TableFacts) -> None:
        if not plan.log_files:
            raise TableExtractionError(f"{plan.folder or '.'}: _delta_log is empty")
        s = ctx.settings
        root_uri = plan.log_files[0].uri.rsplit("/_delta_log/", 1)[0]

        def run(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
            return fan_out(ctx.pool, fn, items)

        log = read_delta_log(plan.log_files, ctx.store.open, run, spark_version=ctx.spark_version,
                             sandbox=ctx.sandbox)

        def data_uri(path: str) -> str:
            if "://" in path or path.startswith("/"):
                raise TableExtractionError(f"Delta file outside the table folder ({path}): not supported")
            return f"{root_uri}/{unquote(path)}"

        def footer_rows(f: LiveFile) -> int:
            uri = data_uri(f.path)
            with ctx.store.open(uri) as fh:
                return ctx.sandbox.run(parquet_num_rows, file=fh, path=ctx.store.display(uri), reader="Parquet reader")

        # files without numRecords: their footers, read in parallel (exact, no data pages)
        missing = [f for f in log.files if not (f.stats and f.stats.get("numRecords") is not None)]
        footers = dict(zip((f.path for f in missing), run(footer_rows, missing)))
        table.row_count = log.row_count(lambda f: footers[f.path])
        table.file_count = len(log.files)
        table.size_bytes = log.size_bytes
        table.partition_columns = list(log.partition_columns)
        parts = set(log.partition_columns)
        data_cols = [(n, t) for n, t, _ in log.columns if n not in parts]
        # column mapping: data files name columns by their physical names; report logical names
        phys_cols = [(log.physical(n), t) for n, t in data_cols]
        logical = {log.physical(n): n for n, _t in data_cols}
        phys_notes: dict[str, str] = {}
        # the profile reads the first files (up to profile_max_rows rows, from at most
        # profile_file_limit files: each file is a request on a remote store), fetched whole, a
        # window ahead of its reads, in the pool; beyond them the log's statistics give exact
        # null counts, min and max
        uris = [data_uri(f.path) for f in log.files[: profile_file_limit(ctx.threads)]]
        ahead = _ReadAhead(ctx.store, ctx.pool, [(u, f.size) for u, f in zip(uris, log.files)], ctx.threads).start()
        try:
            phys_profiles, phys_samples = arrow_profile(replace(ctx, store=ahead), plan.name, uris, parquet_batches,
                                                        phys_cols, table.row_count, phys_notes)
        finally:
            ahead.close()
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
