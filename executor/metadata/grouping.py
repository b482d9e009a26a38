"""From a file listing to a table plan. Pure: no Spark, no I/O.

Rules (documented in the README, "How files become tables"):
- Skipped: names starting with '.' (hidden) or '_' (markers such as _SUCCESS, _committed_*,
  _started_*, and internal folders such as _delta_log), streaming checkpoint folders (named
  checkpoint(s): reported once per folder), *.crc files, files of no supported format, files
  outside the requested format.
- A table is the set of same-format files in one folder, plus the files in Hive-style `key=value`
  sub-folders below it (its partitions; the keys become partition columns).
- Files of one folder are split into several tables when their schemas differ (CSV: header and
  dialect; Parquet: column names and types). Schemas are never merged across incompatible files;
  a partitioned table whose files disagree fails with a message naming two of them.
- A folder that holds `_delta_log` is one Delta table (format `delta`) whatever its name (also a
  folder named checkpoint or checkpoints): its data files belong to it (never tables of their
  own), its log files (`_sidecars/` included) are kept for the Delta log reader, and its
  partitions come from the log, not from folder names.
- A file's format comes from its name through the `detect` callback (the reader registry), and a
  file without an extension is sniffed through the `sniff` callback.
- Names: the folder path relative to the source root ('/'-separated; the root folder takes the
  source's own name). A folder that holds several tables names each after its first file (without
  extension and trailing part numbers): `<folder>/<stem>`, or `<stem>` at the root.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from executor.metadata.compression import has_extension, split_compression
from executor.metadata.model import SkippedFile
from executor.sources.base import FileInfo

CHECKPOINT_DIRS = {"checkpoint", "checkpoints", "_checkpoint", "_checkpoints"}
_PART_RE = re.compile(r"^([^=/]+)=(.*)$")
_STEM_TAIL_RE = re.compile(r"([-_.]?(part|chunk)?[-_.]?\d+)+$", re.I)


CHECKPOINT_REASON = "checkpoint folder (Structured Streaming state, no _delta_log)"


def prune_dir(name: str) -> str | None:
    """Why a folder's files are not data, or None."""
    if name.startswith("."):
        return "hidden folder"
    if name == "_delta_log":
        return "Delta transaction log"
    if name.lower() in CHECKPOINT_DIRS:
        return CHECKPOINT_REASON
    if name.startswith("_"):
        return "internal folder ('_' prefix)"
    return None


DELTA_LOG = "_delta_log"
SIDECARS = "_sidecars"  # _delta_log/_sidecars: a v2 checkpoint's file actions


def _listed_then_judged(name: str) -> bool:
    """Folders the listing descends into although their files are usually not data: a folder
    named checkpoint(s) may hold a Delta table (`_delta_log`), which is a table whatever its
    folder's name; `_sidecars` holds v2 checkpoint sidecars under `_delta_log`. Their other files
    are skipped in planning, reported once per folder."""
    return name == SIDECARS or (name.lower() in CHECKPOINT_DIRS and not name.startswith("_"))


def prune_listing(name: str) -> str | None:
    """The prune rule given to FileStore.list_files: like prune_dir, but `_delta_log` folders
    (read by the Delta log reader, never as tables), `_sidecars` and checkpoint-named folders
    (judged in planning: a Delta table or a streaming checkpoint) are listed."""
    if name == DELTA_LOG or _listed_then_judged(name):
        return None
    return prune_dir(name)


def skip_file(name: str) -> str | None:
    """Why a file is not data, or None."""
    if name.startswith("."):
        return "hidden file"
    if name == "_SUCCESS" or name.startswith(("_committed_", "_started_")):
        return "marker file"
    if name.startswith("_"):
        return "internal file ('_' prefix)"
    if name.lower().endswith(".crc"):
        return "checksum file"
    return None


def partition_segments(dirs: Sequence[str]) -> tuple[int, list[tuple[str, str]]]:
    """(index where trailing key=value folders start, [(key, value), ...])."""
    i = len(dirs)
    parts: list[tuple[str, str]] = []
    while i > 0:
        m = _PART_RE.match(dirs[i - 1])
        if not m or not m.group(1):
            break
        parts.insert(0, (m.group(1), m.group(2)))
        i -= 1
    return i, parts


@dataclass
class PlannedFile:
    info: FileInfo
    partition_values: list[tuple[str, str]] = field(default_factory=list)
    compression: str | None = None  # gzip | bzip2 | None (text formats only)


@dataclass
class TablePlan:
    folder: str  # table root relative to the source root ('' = the root)
    file_format: str
    partition_keys: tuple[str, ...]
    files: list[PlannedFile] = field(default_factory=list)
    name: str = ""
    error: str | None = None  # set when the plan itself is not a valid table
    log_files: list[FileInfo] = field(default_factory=list)  # Delta: the files under _delta_log
    part: str = ""  # one of several tables in the same files (FormatReader.split_tables): a sheet, a record type

    @property
    def is_delta(self) -> bool:
        return self.file_format == "delta"

    @property
    def size_bytes(self) -> int:
        return sum(f.info.size for f in self.files)

    @property
    def partitioned(self) -> bool:
        return bool(self.partition_keys)

    def data_columns(self, columns: Iterable[tuple[Any, ...]]) -> list[tuple[str, str]]:
        """(name, type) of `columns` ((name, type, ...) each) that are not partition columns (those
        come from the folder names)."""
        keys = set(self.partition_keys)
        return [(c[0], c[1]) for c in columns if c[0] not in keys]

    def partition_value_lists(self) -> dict[str, list[str]]:
        """Every raw folder value of each partition key, in key order (one entry per file)."""
        out: dict[str, list[str]] = {k: [] for k in self.partition_keys}
        for f in self.files:
            for k, v in f.partition_values:
                out.setdefault(k, []).append(v)
        return out


@dataclass
class Plan:
    tables: list[TablePlan]
    skipped: list[SkippedFile]
    files_found: int
    total_size_bytes: int


def _matches(path: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(path, p) or fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], p) for p in patterns)


Sniffer = Callable[[FileInfo], "tuple[str | None, str | None]"]
Detector = Callable[[str], "tuple[str | None, str | None]"]  # file name -> (format, compression)


def delta_roots(infos: Iterable[FileInfo]) -> set[str]:
    """Relative folders ('' = the root) that hold a _delta_log folder."""
    roots: set[str] = set()
    for info in infos:
        segs = info.relative.split("/")
        for i, seg in enumerate(segs[:-1]):
            if seg == DELTA_LOG:
                roots.add("/".join(segs[:i]))
                break
    return roots


def _delta_root_of(relative: str, roots: set[str]) -> str | None:
    """The shortest Delta root that contains this path, or None."""
    if "" in roots:
        return ""
    segs = relative.split("/")
    for i in range(1, len(segs)):
        if "/".join(segs[:i]) in roots:
            return "/".join(segs[:i])
    return None


def _name_reason(name: str, dirs: Sequence[str]) -> tuple[str | None, int | None]:
    """(why a file is skipped for a folder above it or its own name, or None; the number of
    folders down to the one that decides it when the skip is reported per folder, else None)."""
    for i, d in enumerate(dirs):
        reason = prune_dir(d)
        if reason:
            return reason, (i + 1 if _listed_then_judged(d) else None)
    return skip_file(name), None


class _Skipped:
    """The skipped list: files one by one, files of a listed-then-judged folder once per folder."""

    def __init__(self) -> None:
        self.items: list[SkippedFile] = []
        self._folders: set[str] = set()

    def add(self, relative: str, reason: str, dirs: Sequence[str] = (), depth: int | None = None) -> None:
        if depth is None:
            self.items.append(SkippedFile(relative, reason))
            return
        folder = "/".join(dirs[:depth]) + "/"
        if folder not in self._folders:
            self._folders.add(folder)
            self.items.append(SkippedFile(folder, reason))


def _pattern_reason(relative: str, include: Sequence[str], exclude: Sequence[str]) -> str | None:
    if include and not _matches(relative, include):
        return "not matched by include patterns"
    if exclude and _matches(relative, exclude):
        return "excluded by pattern"
    return None


def early_format(info: FileInfo, detect: Detector, format_filter: str | None = None, include: Sequence[str] = (),
                 exclude: Sequence[str] = ()) -> tuple[str | None, str | None] | None:
    """What plan_tables will make of a listed file, when its own path tells: (format, compression),
    (None, None) when the file has no extension and will be sniffed, None when it is skipped.
    Lets the planner start reading a file while the listing goes on (a file that turns out to be
    part of a Delta table is known only from the whole listing: the caller checks the roots seen)."""
    if info.skip_reason:
        return None
    name = info.name
    if _name_reason(name, info.relative.split("/")[:-1] if info.relative else [])[0] is not None:
        return None
    if _pattern_reason(info.relative, include, exclude) is not None:
        return None
    fmt, codec = detect(name)
    if fmt is None:
        return None if has_extension(name) else (None, None)
    if format_filter and fmt != format_filter:
        return None
    return fmt, codec


def plan_tables(
    files: Iterable[FileInfo],
    *,
    detect: Detector,
    format_filter: str | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    sniff: Sniffer | None = None,
) -> Plan:
    """Group a listing into tables (names are assigned later, after schema splitting).

    `detect(name)` gives (format, compression) from a file's name, (None, None) when no format
    claims it; `sniff(info)` gives them for a file without an extension (it reads the first bytes);
    without it such files are skipped as of no supported format."""
    listing = list(files)
    roots = delta_roots(listing)
    grouping = _Grouping(detect, format_filter, tuple(include), tuple(exclude), sniff)
    for root in sorted(roots):
        if _delta_root_of(root, roots - {root}) is None:  # a Delta table inside another is its data
            grouping.deltas[root] = TablePlan(folder=root, file_format="delta", partition_keys=())
    for info in listing:
        grouping.add(info)
    return grouping.plan()


@dataclass
class _Grouping:
    """plan_tables' state: the tables found so far, what was skipped and why, the files counted."""

    detect: Detector
    format_filter: str | None
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    sniff: Sniffer | None
    groups: dict[tuple[str, str, tuple[str, ...]], TablePlan] = field(default_factory=dict)
    deltas: dict[str, TablePlan] = field(default_factory=dict)
    skipped: _Skipped = field(default_factory=_Skipped)
    found: int = 0
    total: int = 0

    def add(self, info: FileInfo) -> None:
        """One listed file: into its Delta table or its folder's table, or skipped with the reason."""
        if info.skip_reason:
            self.skipped.add(info.relative, info.skip_reason)
            return
        delta_root = _delta_root_of(info.relative, set(self.deltas)) if self.deltas else None
        placed = self._add_to_delta(info, delta_root) if delta_root is not None else self._add_to_folder(info)
        if placed:
            self.found += 1
            self.total += info.size

    def _add_to_delta(self, info: FileInfo, delta_root: str) -> bool:
        plan = self.deltas[delta_root]
        inside = info.relative[len(delta_root) + 1:] if delta_root else info.relative
        if inside.split("/", 1)[0] == DELTA_LOG:
            plan.log_files.append(info)
            return False
        inside_dirs = inside.split("/")[:-1]
        reason, depth = _name_reason(info.name, inside_dirs)
        if reason is None and self.format_filter and self.format_filter != "delta":
            reason = f"part of a Delta table, excluded by data_source_type={self.format_filter}"
        if reason is None and (reason := _pattern_reason(info.relative, self.include, self.exclude)) is not None:
            depth = None
        if reason is not None:
            root_dirs = delta_root.split("/") if delta_root else []
            self.skipped.add(info.relative or info.name, reason, root_dirs + inside_dirs,
                             None if depth is None else len(root_dirs) + depth)
            return False
        delta_parts = [(k, v) for k, v in (d.split("=", 1) for d in inside_dirs if _PART_RE.match(d))]
        plan.files.append(PlannedFile(info, delta_parts))
        return True

    def _format_of(self, info: FileInfo) -> tuple[str | None, str | None]:
        fmt, codec = self.detect(info.name)
        if fmt is None and self.sniff is not None and not has_extension(info.name):
            try:
                fmt, codec = self.sniff(info)
            except Exception:  # noqa: BLE001 - an unreadable file is of no known format
                fmt, codec = None, None
        return fmt, codec

    def _add_to_folder(self, info: FileInfo) -> bool:
        dirs = info.relative.split("/")[:-1] if info.relative else []
        reason, depth = _name_reason(info.name, dirs)
        fmt, codec = self._format_of(info) if reason is None else (None, None)
        if reason is None and fmt is None:
            reason = "unsupported format"
        if reason is None and self.format_filter and fmt != self.format_filter:
            reason = f"excluded by data_source_type={self.format_filter}"
        if reason is None and (reason := _pattern_reason(info.relative, self.include, self.exclude)) is not None:
            depth = None
        if reason is not None or fmt is None:
            self.skipped.add(info.relative or info.name, reason or "unsupported format", dirs, depth)
            return False
        cut, parts = partition_segments(dirs)
        folder = "/".join(dirs[:cut])
        keys = tuple(k for k, _ in parts)
        group = self.groups.get((folder, fmt, keys))
        if group is None:
            group = self.groups[(folder, fmt, keys)] = TablePlan(folder=folder, file_format=fmt, partition_keys=keys)
        group.files.append(PlannedFile(info, parts, codec))
        return True

    def plan(self) -> Plan:
        groups = dict(self.groups)
        for root, plan in self.deltas.items():
            if self.format_filter and self.format_filter != "delta":
                continue
            if self.include and not plan.files and not _matches(root, self.include):
                continue
            groups[(root, "delta", ())] = plan
        return Plan(tables=list(groups.values()), skipped=self.skipped.items, files_found=self.found,
                    total_size_bytes=self.total)


def split_by_schema(tables: list[TablePlan], signature: dict[str, Hashable]) -> list[TablePlan]:
    """Split each unpartitioned plan into one plan per distinct file schema signature.

    `signature` maps FileInfo.uri to a hashable schema description. A file without one (it could not
    be read) stays in its table when the folder clearly is one table (one schema, several files, or
    partitions) and fails it; otherwise it becomes a one-file table of its own, so that it fails
    alone. A partitioned plan is never split: disagreeing partitions make it fail, naming two files.
    """
    out: list[TablePlan] = []
    for plan in tables:
        if plan.is_delta:  # one table by definition: its schema comes from the log
            out.append(plan)
            continue
        sigs: dict[Hashable, list[PlannedFile]] = {}
        unread: list[PlannedFile] = []
        for f in plan.files:
            sig = signature.get(f.info.uri)
            if sig is None:
                unread.append(f)
            else:
                sigs.setdefault(sig, []).append(f)
        isolate = bool(unread) and not plan.partitioned and (len(sigs) > 1 or plan.folder == ""
                                                               or sum(len(v) for v in sigs.values()) == 1)
        if isolate:
            # An unreadable file whose table cannot be told is a table of its own: it fails alone.
            for f in unread:
                out.append(TablePlan(plan.folder, plan.file_format, plan.partition_keys, [f]))
            unread = []
            if not sigs:
                continue
        if len(sigs) <= 1:
            if sigs:
                out.append(TablePlan(plan.folder, plan.file_format, plan.partition_keys,
                                     next(iter(sigs.values())) + unread, error=plan.error))
            else:
                out.append(plan)
            continue
        if plan.partitioned:
            firsts = [files[0].info.relative for files in sigs.values()]
            plan.error = (
                f"files of one partitioned table have different schemas ({firsts[0]} vs {firsts[1]}); "
                "the executor does not merge incompatible schemas: rewrite or move the odd files"
            )
            out.append(plan)
            continue
        for files in sigs.values():
            out.append(TablePlan(plan.folder, plan.file_format, plan.partition_keys, files))
    return out


def _stem(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    for ext in (".gz", ".gzip", ".bz2", ".snappy"):
        if base.lower().endswith(ext):
            base = base[: -len(ext)]
    base = base.rsplit(".", 1)[0] if "." in base else base
    trimmed = _STEM_TAIL_RE.sub("", base)
    return trimmed or base


def _one_file_stem(name: str) -> str:
    """`customers` for customers.csv and customers.csv.gz; the name itself when it has no extension."""
    base = split_compression(name)[0]
    return base.rsplit(".", 1)[0] if "." in base.lstrip(".") else base


def assign_names(tables: list[TablePlan], root_name: str) -> list[TablePlan]:
    """Stable, readable, unique names derived from paths relative to the source root."""
    by_folder: dict[str, list[TablePlan]] = {}
    for t in tables:
        by_folder.setdefault(t.folder, []).append(t)
    used: set[str] = set()
    for folder, plans in sorted(by_folder.items()):
        base = folder or root_name
        for t in sorted(plans, key=lambda p: (p.file_format, p.files[0].info.relative if p.files else "")):
            whole_folder = len(plans) == 1 and (len(t.files) > 1 or t.partitioned or folder != "")
            if whole_folder or t.is_delta:
                name = base
            else:
                stem = _stem(t.files[0].info.relative) if len(t.files) > 1 else \
                    _one_file_stem(t.files[0].info.name)
                name = f"{folder}/{stem}" if folder else stem
            candidate, n = name, 2
            while candidate in used:
                candidate = f"{name}_{n}"
                n += 1
            t.name = candidate
            used.add(candidate)
    return sorted(tables, key=lambda p: p.name)
