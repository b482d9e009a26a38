"""Samples and profiles from Arrow record batches, shared by the formats pyarrow reads (Parquet,
ORC, and Delta's Parquet data files): the first rows of the first files, up to profile_max_rows,
best effort per column (a column whose values cannot be read or converted gets no samples and no
profile, and a note saying why; counts and types never depend on it)."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from executor.metadata.grouping import TablePlan
from executor.metadata.model import add_table_note
from executor.metadata.profile import PROFILE_SAMPLED, ColumnProfile, profile_arrow
from executor.metadata.readers.base import TableContext
from executor.metadata.window import Window, WindowSlot
from executor.sandbox.pool import ReaderCrashed, SandboxError
from executor.sources.base import FILE_STATE_ERRORS, cached_bytes, forget_cached

logger = logging.getLogger(__name__)

# A file's verdict, not a column's or a sample's: the decoder crashed, hung or ran out of memory on
# it, or it is gone, unreadable or replaced since its facts were read. Readers that work around a
# content problem (column by column, samples as best effort) let these through: the table fails.
FILE_VERDICTS: tuple[type[BaseException], ...] = (SandboxError, *FILE_STATE_ERRORS)

# (open file, columns to read or None for all, rows wanted, notes) -> the file's record batches,
# or None when nothing more is to be read from this table
FileBatches = Callable[[BinaryIO, "list[str] | None", int, dict[str, str]], "Iterable[Any] | None"]


def short_error(exc: BaseException) -> str:
    text = (str(exc).strip() or type(exc).__name__).splitlines()[0]
    return text[:200]


def unreadable_note(exc: BaseException) -> str:
    """The table note of a data read that failed (a corrupt page or stripe): only metadata stands."""
    return (f"some values cannot be read ({short_error(exc)}): row_count and types come from the files' metadata "
            "alone, no scan read them, and a Spark scan of those values is likely to fail too")


def file_batches_task(fh: BinaryIO, file_batches: FileBatches, columns: list[str] | None, want: int,
                      notes: dict[str, str]) -> tuple[list[Any] | None, int, dict[str, str]]:
    """Up to `want` rows of one file as record batches (None: nothing more is to be read), and
    the notes the reading added: a sandbox task (one per file), run where the decoder runs."""
    out: list[Any] = []
    got = 0
    batches = file_batches(fh, columns, want, notes)
    if batches is None:
        return None, 0, notes
    for batch in batches:
        batch = batch.slice(0, want - got)
        out.append(batch)
        got += batch.num_rows
        if got >= want:
            break
    return out, got, notes


def files_batches_task(datas: list[bytes], file_batches: FileBatches, columns: list[str] | None,
                       wants: list[int], notes: dict[str, str]) -> tuple[list[tuple[list[Any] | None, int]], dict[str, str]]:
    """file_batches_task over small files held in memory, one after another (one sandbox task for
    them all): each file's batches and rows, up to the first file that ends the reading (None)."""
    out: list[tuple[list[Any] | None, int]] = []
    for data, want in zip(datas, wants):
        batches, got, notes = file_batches_task(io.BytesIO(data), file_batches, columns, want, notes)
        out.append((batches, got))
        if batches is None:
            break
    return out, notes


# A window's small files whose bytes the facts step kept are decoded in one sandbox task (a task
# costs ~0.25 ms of the run's CPU besides the decoding: a call per 7 KB file doubled the calls of a
# lake of small files), a batch at most this many files and bytes (a batch is read like one file:
# within the reader's timeout and memory bound).
BATCH_FILES = 64
BATCH_BYTES = 8 * 1024 * 1024


def _reader_name(file_batches: FileBatches) -> str:
    return {"parquet_batches": "Parquet reader", "orc_batches": "ORC reader"}.get(
        getattr(file_batches, "__name__", ""), "Arrow reader")


def _file_batches(ctx: TableContext, uri: str, file_batches: FileBatches, columns: list[str] | None, want: int,
                  notes: dict[str, str]) -> tuple[list[Any] | None, int]:
    """Up to `want` rows of one file as record batches (None: nothing more is to be read), decoded
    in the run's sandbox; batches that come from a worker are validated before they are used."""
    import pyarrow as pa

    data = cached_bytes(ctx.store, uri)  # kept from the facts step: decoded without Python reads
    isolated = ctx.sandbox.isolated
    with (pa.BufferReader(data) if data is not None else ctx.store.open(uri)) as fh:
        if isolated and data is None and isinstance(fh, io.BytesIO):  # fetched whole (Delta's read-ahead)
            data = fh.getvalue()  # sent with the task: no read served per call
        out, got, added = ctx.sandbox.run(file_batches_task, file_batches, columns, want, dict(notes),
                                          file=data if data is not None and isolated else fh,
                                          path=ctx.store.display(uri), reader=_reader_name(file_batches))
    for name, why in added.items():
        notes.setdefault(name, why)
    if out is not None and isolated:
        for batch in out:  # the worker decoded hostile bytes: its Arrow data is checked, not trusted
            batch.validate(full=True)
    return out, got


def _read(ctx: TableContext, uris: list[str], file_batches: FileBatches, columns: list[str] | None,
          notes: dict[str, str], rows: Sequence[int | None] | None = None,
          early: bool = False) -> tuple[list[Any], int, int]:
    """Record batches from the first files, up to profile_max_rows rows, the rows and the number of
    files they came from. The first files, when small, their rows known and their bytes kept, are
    decoded in one sandbox task (_batch); the others in parallel (TableContext.first_files: with
    `rows` per file, exactly those the budget needs). A batch whose task fails is read again file by
    file, which names the file; `early` (the facts step's read, early_window), a batch that hung or
    ran out of memory is not: the table step reads the files again one by one anyway (the verdict may
    be the load's), and the hostile file then costs two timeouts rather than three."""
    budget = ctx.settings.profile_max_rows
    per_file: list[list[Any]] = []
    got = start = 0
    while (batch := _batch(ctx, uris[start:], rows[start:] if rows is not None else None, budget - got)) is not None:
        datas, wants = batch
        try:
            results, added = ctx.sandbox.run(files_batches_task, datas, file_batches, columns, wants, dict(notes),
                                             path=f"{len(datas)} files of a table's window",
                                             reader=_reader_name(file_batches))
        except SandboxError as exc:  # crashed, hung or out of memory: read again file by file, which names the file
            if early and not isinstance(exc, ReaderCrashed):
                raise
            logger.info("reading %d files in one task failed (%s); reading them one by one", len(datas), exc)
            break
        for name, why in added.items():
            notes.setdefault(name, why)
        for batches, n in results:
            if batches is None:
                return _cut(per_file, budget)
            for b in batches:  # the worker decoded hostile bytes: its Arrow data is checked, not trusted
                b.validate(full=True)
            per_file.append(batches)
            got += n
            if got >= budget:
                return _cut(per_file, budget)
        start += len(datas)
    if start < len(uris):
        per_file += ctx.first_files(uris[start:], rows[start:] if rows is not None else None, budget - got,
                                    lambda uri, want: _file_batches(ctx, uri, file_batches, columns, want, notes))
    return _cut(per_file, budget)


def _batch(ctx: TableContext, uris: list[str], rows: Sequence[int | None] | None,
           budget: int) -> tuple[list[bytes], list[int]] | None:
    """The first files' bytes and the rows wanted of each (as first_files asks them: the budget less
    the rows of the files before), for one sandbox task; None unless the reader runs in a sandbox and
    at least two files have their rows known and their bytes kept, within BATCH_FILES and BATCH_BYTES."""
    if not ctx.sandbox.isolated or rows is None:
        return None
    datas: list[bytes] = []
    wants: list[int] = []
    expected = size = 0
    for uri, known in zip(uris, rows):
        if expected >= budget or known is None or len(datas) == BATCH_FILES:
            break
        data = cached_bytes(ctx.store, uri)
        if data is None or size + len(data) > BATCH_BYTES:
            break
        datas.append(data)
        wants.append(max(1, budget - expected))
        expected += known
        size += len(data)
    return (datas, wants) if len(datas) >= 2 else None


def _cut(per_file: list[list[Any]], budget: int) -> tuple[list[Any], int, int]:
    """The files' batches cut at the budget, the rows they hold and the number of files."""
    read: list[Any] = []
    left = budget
    for batches in per_file:
        for batch in batches:
            if left <= 0:
                break
            batch = batch.slice(0, left)
            left -= batch.num_rows
            read.append(batch)
    return read, budget - left, len(per_file)


def _values(present: list[Any], name: str) -> list[Any]:
    values: list[Any] = []
    for b in present:
        values.extend(b.column(b.schema.names.index(name)).slice(0, 1000).to_pylist())
        if len(values) >= 1000:
            break
    return values


@dataclass
class ArrowWindowRead:
    """One read of a table's window (read_window): what it was asked (`uris`, `names_types`,
    `total`, the notes before it) and what it gave: each column's profile and samples, the columns
    computed from values, the rows seen and the files they came from (None: read column by column),
    whether a read failed, and the notes after it. A read made early (early_window: Parquet's and
    ORC's `prepare`) is used by the table step only when it was asked exactly what the table step
    would ask (`answers`); `crashed`: the early read's decoder crashed on a file of it (the table
    fails with that verdict rather than crash a second worker on the same bytes)."""

    uris: list[str]
    names_types: list[tuple[str, str]]
    total: int
    notes_before: dict[str, str]
    profiles: dict[str, ColumnProfile] = field(default_factory=dict)
    samples: dict[str, list[str]] = field(default_factory=dict)
    computed: set[str] = field(default_factory=set)
    seen: int = 0
    files_read: int | None = None
    failed: bool = False
    notes: dict[str, str] = field(default_factory=dict)
    crashed: ReaderCrashed | None = None

    def answers(self, uris: list[str], names_types: list[tuple[str, str]], total: int,
                notes: Mapping[str, str]) -> bool:
        return (self.uris, self.names_types, self.total, self.notes_before) == (uris, names_types, total, dict(notes))


def read_window(ctx: TableContext, table_name: str, uris: list[str], file_batches: FileBatches,
                names_types: list[tuple[str, str]], total: int, notes: dict[str, str],
                rows: Sequence[int | None] | None = None, early: bool = False) -> ArrowWindowRead:
    """Profiles and samples of `names_types` from the first rows of `uris` (one read; column by
    column when reading them all fails), `notes` updated with why a column has none. `rows`: each
    file's rows when known (only the files the sample needs are read, all at once)."""
    out = ArrowWindowRead(list(uris), list(names_types), total, dict(notes))
    by_column: dict[str, tuple[list[Any], int]] = {}
    failure: BaseException | None = None
    try:
        whole_read, out.seen, out.files_read = _read(ctx, uris, file_batches, None, notes, rows, early)
        whole = (whole_read, out.seen)
        by_column = {n: whole for n, _t in names_types}
    except FILE_VERDICTS:
        raise
    except Exception as exc:  # noqa: BLE001 - retried column by column below
        logger.info("table %s: reading all columns failed (%s); reading column by column", table_name, exc)
        for n, _t in names_types:
            try:
                col_read, col_seen, _files = _read(ctx, uris, file_batches, [n], notes, rows, early)
                by_column[n] = (col_read, col_seen)
            except FILE_VERDICTS:
                raise
            except Exception as col_exc:  # noqa: BLE001 - this column has no values, the table is ok
                notes.setdefault(n, f"no samples or profile: its values cannot be read ({short_error(col_exc)})")
                by_column[n] = ([], 0)
                failure = failure or col_exc
        if failure is not None:
            add_table_note(notes, unreadable_note(failure))
            out.failed = True
    for n, t in names_types:
        read, seen = by_column.get(n, ([], 0))
        present = [b for b in read if n in b.schema.names]
        out.profiles[n] = ColumnProfile(profile_scope=PROFILE_SAMPLED)
        out.samples[n] = []
        if n in notes or not present:
            if n not in notes and read:
                notes[n] = "no samples or profile: the column is not in the rows read"
            continue
        try:
            profile = profile_arrow([(n, t)], read, ctx.scope(seen, total), ctx.settings.sample_value_max_chars)[n]
            out.samples[n] = ctx.samples(_values(present, n))
            out.profiles[n] = profile
            out.computed.add(n)
        except Exception as exc:  # noqa: BLE001 - values Python cannot hold (dates past year 9999...)
            notes[n] = f"no samples or profile: its values cannot be converted ({short_error(exc)})"
            out.samples[n] = []
    out.notes = dict(notes)
    return out


def early_window(ctx: TableContext, plan: TablePlan, uris: list[str], file_batches: FileBatches,
                 names_types: list[tuple[str, str]], total: int, notes: dict[str, str],
                 rows: Sequence[int | None] | None) -> Callable[[], ArrowWindowRead]:
    """A reader's `prepare` work (Parquet, ORC): `plan`'s window (from `uris`, its files the window
    reads) read during the facts step (base.EarlyTables), decoded from the bytes the facts step kept;
    the table step uses it when it answers its own arguments (arrow_profile's `prepared`)."""

    def work() -> ArrowWindowRead:
        try:
            read = read_window(ctx, plan.name, uris, file_batches, names_types, total, dict(notes), rows, early=True)
        except ReaderCrashed as exc:
            # the decoder died on a file's bytes: the table step fails with this verdict rather than
            # crash another worker on them (a hang or the memory bound: the table step reads again,
            # file by file, from storage)
            read = ArrowWindowRead(list(uris), list(names_types), total, dict(notes), crashed=exc)
        finally:
            # the table step reads none of the table's files again: their cached bytes make room for
            # the files still downloading (a table the plan changed afterwards, or whose early read
            # hung, reads its window again)
            forget_cached(ctx.store, [f.info.uri for f in plan.files])
        return read

    return work


def arrow_profile(ctx: TableContext, table_name: str, uris: list[str], file_batches: FileBatches,
                  names_types: list[tuple[str, str]], total: int, notes: dict[str, str],
                  rows: Sequence[int | None] | None = None, window: WindowSlot | None = None,
                  prepared: ArrowWindowRead | None = None) -> tuple[dict[str, ColumnProfile], dict[str, list[str]]]:
    """read_window's profiles and samples, `notes` updated. `window`: the table's window slot
    (executor.metadata.window): the earlier run's window when it is provably this one (nothing read),
    and this run's window recorded (a whole read only). `prepared`: the same read made early (during
    the facts step), used when it answers exactly these arguments."""
    noted = sorted(n for n, _t in names_types if n in notes)
    earlier = window.usable(uris, names_types, noted) if window is not None else None
    if earlier is not None:
        window.use(earlier)  # type: ignore[union-attr]
        return _from_window(earlier, names_types, total, notes)
    before = set(notes)
    if prepared is not None and prepared.answers(uris, names_types, total, notes):
        if prepared.crashed is not None:
            raise prepared.crashed
        got = prepared
        notes.clear()
        notes.update(prepared.notes)
    else:
        got = read_window(ctx, table_name, uris, file_batches, names_types, total, notes, rows)
    if window is not None and got.files_read is not None and not got.failed:
        rec = Window(files=[window.relative.get(u, u) for u in uris[:got.files_read]],
                     filled=got.seen >= ctx.settings.profile_max_rows, seen=got.seen,
                     names_types=[(n, t) for n, t in names_types], noted=noted,
                     notes={k: v for k, v in notes.items() if k not in before})
        for n, _t in names_types:
            rec.put(n, got.profiles[n] if n in got.computed else None, got.samples[n], scoped=n in got.computed)
        window.record(rec)
    return got.profiles, got.samples


def _from_window(window: Window, names_types: list[tuple[str, str]], total: int,
                 notes: dict[str, str]) -> tuple[dict[str, ColumnProfile], dict[str, list[str]]]:
    """arrow_profile's result from the earlier run's window (the same rows: the same values)."""
    for k, v in window.notes.items():
        notes.setdefault(k, v)
    profiles: dict[str, ColumnProfile] = {}
    samples: dict[str, list[str]] = {}
    for n, _t in names_types:
        profiles[n], samples[n] = window.profile(n, total)
    return profiles, samples
