"""Per-file facts and per-table extraction of the formats beyond CSV and Parquet: JSON, Avro, ORC
and Delta tables. A mixin of MetadataExtractor (it uses its settings, partition helpers and
spark_version); the format rules themselves live in executor.metadata.readers.*, pure.

No Spark job is run for these formats: counts, schemas and profiles come from the files (JSON:
one streaming parse per file; Avro: header + block headers, samples decoded with fastavro; ORC:
the file footer, samples from the first stripes; Delta: the transaction log, samples from the
first live files).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from executor.errors import TableExtractionError
from executor.metadata.formats import open_decompressed
from executor.metadata.model import ColumnFacts, TableFacts
from executor.metadata.profile import (
    PROFILE_EXACT,
    PROFILE_SAMPLED,
    ColumnProfile,
    apply_exact,
    orderable,
    profile_arrow,
    profile_rows,
)

if TYPE_CHECKING:
    from executor.metadata.grouping import PlannedFile, TablePlan
    from executor.sources.base import FileStore

logger = logging.getLogger(__name__)


def _short(exc: BaseException) -> str:
    text = (str(exc).strip() or type(exc).__name__).splitlines()[0]
    return text[:200]


@contextmanager
def open_data(store: FileStore, uri: str, codec: str | None) -> Iterator[Any]:
    """The file as a binary stream, decompressed when it is gzip/bzip2 compressed."""
    with store.open(uri) as raw:
        stream = open_decompressed(raw, codec)
        try:
            yield stream
        finally:
            if stream is not raw:
                stream.close()


def orc_type(arrow_type: Any, spark_version: str) -> str:
    """Spark's type of an ORC column from pyarrow's reading of the ORC schema: timestamps (ORC
    `timestamp` and `timestamp with local time zone`) are Spark `timestamp`; the rest as Arrow."""
    import pyarrow.types as pt

    from executor.metadata.spark_types import arrow_to_spark_type

    t = arrow_type
    if pt.is_timestamp(t):
        return "timestamp"
    if pt.is_list(t) or pt.is_large_list(t):
        return f"array<{orc_type(t.value_type, spark_version)}>"
    if pt.is_map(t):
        return f"map<{orc_type(t.key_type, spark_version)},{orc_type(t.item_type, spark_version)}>"
    if pt.is_struct(t):
        return "struct<" + ",".join(f"{t.field(i).name}:{orc_type(t.field(i).type, spark_version)}"
                                    for i in range(t.num_fields)) + ">"
    return arrow_to_spark_type(t, spark_version)


def columns_signature(fmt: str, columns: list[tuple[str, str, bool]]) -> tuple:
    return (fmt, tuple(sorted((n, t) for n, t, _ in columns)))


class FormatTables:
    """Mixin: needs self.settings, self.spark_version, self._partition_types, self._partition_facts,
    distinct_samples (module function of the extractor) passed as self._samples."""

    settings: Any
    spark_version: str

    # ------------------------------------------------------------------ per file

    def _json_file_facts(self, store: FileStore, pf: PlannedFile, facts_cls: Any,
                         sample_rows: int | None = None) -> Any:
        from executor.metadata.readers.json_reader import scan_json

        with open_data(store, pf.info.uri, pf.compression) as fh:
            head = fh.read(4096)
            if b"\x00" in head:
                return facts_cls(error=f"{pf.info.relative or pf.info.name} is not a text file (binary content)")
            fh.seek(0)
            scan = scan_json(fh, sample_rows=self.settings.profile_max_rows if sample_rows is None else sample_rows)
        return facts_cls(signature=("json", scan.mode), rows=scan.rows, malformed=scan.malformed, json_scan=scan)

    def _avro_file_facts(self, store: FileStore, pf: PlannedFile, facts_cls: Any) -> Any:
        from executor.metadata.readers.avro_reader import read_avro_facts, spark_columns

        with store.open(pf.info.uri) as fh:
            avro = read_avro_facts(fh)
        cols = spark_columns(avro.schema)
        return facts_cls(signature=columns_signature("avro", cols), rows=avro.rows, spark_columns=cols,
                         nullable={n: nl for n, _t, nl in cols})

    def _orc_file_facts(self, store: FileStore, pf: PlannedFile, facts_cls: Any) -> Any:
        import pyarrow.orc as orc

        with store.open(pf.info.uri) as fh:
            f = orc.ORCFile(fh)
            rows, schema = f.nrows, f.schema
        cols = [(fld.name, orc_type(fld.type, self.spark_version), True) for fld in schema]
        return facts_cls(signature=columns_signature("orc", cols), rows=rows, spark_columns=cols,
                         nullable={n: True for n, _t, _nl in cols})

    # ------------------------------------------------------------------ per table

    def _scope(self, profiled: int, total: int) -> str:
        return PROFILE_EXACT if profiled >= total else PROFILE_SAMPLED

    def _columns(self, plan: TablePlan, names_types: list[tuple[str, str]], nullable: dict[str, bool],
                 samples: dict[str, list[str]], profiles: dict[str, ColumnProfile]) -> list[ColumnFacts]:
        cols = []
        for i, (n, t) in enumerate(names_types):
            cols.append(ColumnFacts(n, t, i + 1, bool(nullable.get(n, True)), samples.get(n, []))
                        .set_profile(profiles.get(n)))
        return cols

    def _value_samples(self, names: list[str], rows: list[dict[str, Any]]) -> dict[str, list[str]]:
        from executor.metadata.samples import distinct_samples

        s = self.settings
        return {n: distinct_samples((r.get(n) for r in rows), s.sample_values_count, s.sample_value_max_chars)
                for n in names}

    def _finish(self, store: FileStore, plan: TablePlan, table: TableFacts, cols: list[ColumnFacts]) -> None:
        if plan.partitioned:
            cols.extend(self._partition_facts(plan, self._partition_types(store, plan), len(cols) + 1))  # type: ignore[attr-defined]
        table.columns = cols

    def _extract_json(self, store: FileStore, plan: TablePlan, facts: dict[str, Any], table: TableFacts) -> None:
        from executor.metadata.readers.json_reader import EMPTY_STRUCT, compatible_root, root_columns

        s = self.settings
        root: tuple = EMPTY_STRUCT
        rows: list[dict[str, Any]] = []
        total = malformed = 0
        for f in plan.files:
            scan = facts[f.info.uri].json_scan
            root = compatible_root(root, scan.root)
            total += scan.rows
            malformed += scan.malformed
            if len(rows) < s.profile_max_rows:
                rows.extend(scan.sample[: s.profile_max_rows - len(rows)])
        table.row_count = total
        table.malformed_records = malformed
        partition_names = set(plan.partition_keys)
        inferred = root_columns(root)
        if not getattr(self, "fast", True):  # NUVYN_INFERENCE=spark: Spark reads the files (one job)
            inferred = self._spark_json_schema(store, plan, facts[plan.files[0].info.uri].json_scan.mode)
        names_types = [(n, t) for n, t in inferred if n not in partition_names]
        doubles = {n for n, t in names_types if t in ("double", "float")}
        if doubles:  # a JSON integer in a double column reads as Spark shows it (1 -> 1.0)
            rows = [{k: (float(v) if k in doubles and isinstance(v, int) and not isinstance(v, bool) else v)
                     for k, v in r.items()} for r in rows]
        profiles = profile_rows(names_types, rows, self._scope(len(rows), total), s.sample_value_max_chars)
        samples = self._value_samples([n for n, _ in names_types], rows)
        self._finish(store, plan, table, self._columns(plan, names_types, {}, samples, profiles))

    def _spark_json_schema(self, store: FileStore, plan: TablePlan, mode: str) -> list[tuple[str, str]]:
        uris = [store.spark_uri(f.info.uri) for f in plan.files]
        reader = self.spark.read.option("multiLine", "true" if mode == "document" else "false")  # type: ignore[attr-defined]
        return [(f.name, f.dataType.simpleString()) for f in reader.json(uris).schema.fields]

    def _extract_avro(self, store: FileStore, plan: TablePlan, facts: dict[str, Any], table: TableFacts) -> None:
        from executor.metadata.readers.avro_reader import read_records

        s = self.settings
        first = facts[plan.files[0].info.uri]
        table.row_count = sum(facts[f.info.uri].rows for f in plan.files)
        partition_names = set(plan.partition_keys)
        names_types = [(n, t) for n, t, _ in first.spark_columns if n not in partition_names]
        rows: list[dict[str, Any]] = []
        try:
            for f in plan.files:
                if len(rows) >= s.profile_max_rows:
                    break
                with store.open(f.info.uri) as fh:
                    rows.extend(read_records(fh, s.profile_max_rows - len(rows)))
        except Exception as exc:  # noqa: BLE001 - samples are best effort, counts are not
            logger.warning("table %s: Avro records unreadable for samples (%s)", plan.name, exc)
        profiles = profile_rows(names_types, rows, self._scope(len(rows), table.row_count), s.sample_value_max_chars)
        samples = self._value_samples([n for n, _ in names_types], rows)
        self._finish(store, plan, table, self._columns(plan, names_types, first.nullable or {}, samples, profiles))

    @staticmethod
    def _open_parquet(fh: Any, notes: dict[str, str] | None = None, columns: list[str] | None = None) -> Any:
        """pyarrow's ParquetFile over `fh`, reading INT96 as microseconds (Spark's timestamp precision:
        nanosecond values never overflow or refuse conversion). When pyarrow refuses the schema as a
        whole (a MAP whose key is not REQUIRED, which Spark reads), the other columns are read
        through a footer without those columns, and `notes` says why the dropped ones have no values."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from executor.metadata.readers.parquet_footer import has_optional_map_key, projected_file, read_footer_facts

        try:
            return pq.ParquetFile(fh, coerce_int96_timestamp_unit="us")
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            fh.seek(0)
            odd = set(has_optional_map_key(read_footer_facts(fh).root))
            if not odd:
                raise
            if notes is not None:
                for name in sorted(odd):
                    notes.setdefault(name, f"no samples or profile: pyarrow cannot read this column ({exc}); "
                                           "Spark reads it")
            fh.seek(0)
            return pq.ParquetFile(projected_file(fh, odd), coerce_int96_timestamp_unit="us")

    def _arrow_batches(self, store: FileStore, plan: TablePlan, kind: str, uris: list[str] | None = None,
                       columns: list[str] | None = None, notes: dict[str, str] | None = None):
        """Record batches from the first files, up to profile_max_rows rows (read lazily)."""
        import pyarrow.orc as orc

        budget = self.settings.profile_max_rows
        for uri in (uris if uris is not None else [f.info.uri for f in plan.files]):
            if budget <= 0:
                return
            with store.open(uri) as fh:
                if kind == "orc":
                    f = orc.ORCFile(fh)
                    for i in range(f.nstripes):
                        batch = f.read_stripe(i, columns=columns)
                        batch = batch.slice(0, budget)
                        budget -= batch.num_rows
                        yield batch
                        if budget <= 0:
                            return
                else:
                    pf = self._open_parquet(fh, notes)
                    cols = None if columns is None else [c for c in columns if c in pf.schema_arrow.names]
                    if cols == []:
                        return
                    for batch in pf.iter_batches(batch_size=min(65536, max(budget, 1)), columns=cols):
                        batch = batch.slice(0, budget)
                        budget -= batch.num_rows
                        yield batch
                        if budget <= 0:
                            return

    def _read_batches(self, store: FileStore, plan: TablePlan, kind: str, uris: list[str] | None,
                      columns: list[str] | None, notes: dict[str, str]) -> tuple[list[Any], int]:
        read: list[Any] = []
        seen = 0
        for batch in self._arrow_batches(store, plan, kind, uris, columns, notes):
            read.append(batch)
            seen += batch.num_rows
        return read, seen

    def _arrow_profile(self, store: FileStore, plan: TablePlan, kind: str,
                       names_types: list[tuple[str, str]], total: int,
                       uris: list[str] | None = None,
                       notes: dict[str, str] | None = None) -> tuple[dict[str, ColumnProfile], dict[str, list[str]]]:
        """Profiles and samples from the first rows (one read), best effort per column: a column
        whose values cannot be read or converted (pyarrow refuses its data pages, dates outside
        Python's range...) gets no samples and no profile, and `notes[column]` says why; the other
        columns keep theirs. Counts and types never depend on it."""
        from executor.metadata.samples import distinct_samples

        s = self.settings
        notes = {} if notes is None else notes
        by_column: dict[str, tuple[list[Any], int]] = {}
        try:
            read, seen = self._read_batches(store, plan, kind, uris, None, notes)
            by_column = {n: (read, seen) for n, _t in names_types}
        except Exception as exc:  # noqa: BLE001 - retried column by column below
            logger.info("table %s: reading all columns failed (%s); reading column by column", plan.name, exc)
            for n, _t in names_types:
                try:
                    by_column[n] = self._read_batches(store, plan, kind, uris, [n], notes)
                except Exception as col_exc:  # noqa: BLE001 - this column has no values, the table is ok
                    notes.setdefault(n, f"no samples or profile: its values cannot be read ({_short(col_exc)})")
                    by_column[n] = ([], 0)
        profiles: dict[str, ColumnProfile] = {}
        samples: dict[str, list[str]] = {}
        for n, t in names_types:
            read, seen = by_column.get(n, ([], 0))
            present = [b for b in read if n in b.schema.names]
            if n in notes or not present:
                if n not in notes and read:
                    notes[n] = "no samples or profile: the column is not in the rows read"
                profiles[n] = ColumnProfile(profile_scope=PROFILE_SAMPLED)
                samples[n] = []
                continue
            try:
                profile = profile_arrow([(n, t)], read, self._scope(seen, total), s.sample_value_max_chars)[n]
                values: list[Any] = []
                for b in present:
                    values.extend(b.column(b.schema.names.index(n)).slice(0, 1000).to_pylist())
                    if len(values) >= 1000:
                        break
                samples[n] = distinct_samples(values, s.sample_values_count, s.sample_value_max_chars)
                profiles[n] = profile
            except Exception as exc:  # noqa: BLE001 - values Python cannot hold (dates past year 9999...)
                notes[n] = f"no samples or profile: its values cannot be converted ({_short(exc)})"
                profiles[n] = ColumnProfile(profile_scope=PROFILE_SAMPLED)
                samples[n] = []
        return profiles, samples

    def _extract_orc(self, store: FileStore, plan: TablePlan, facts: dict[str, Any], table: TableFacts) -> None:
        first = facts[plan.files[0].info.uri]
        table.row_count = sum(facts[f.info.uri].rows for f in plan.files)
        partition_names = set(plan.partition_keys)
        names_types = [(n, t) for n, t, _ in first.spark_columns if n not in partition_names]
        profiles, samples = self._arrow_profile(store, plan, "orc", names_types, table.row_count)
        self._finish(store, plan, table, self._columns(plan, names_types, {}, samples, profiles))

    @staticmethod
    def parquet_footer_stats(footers: list[Any]) -> dict[str, tuple[int | None, Any, Any]]:
        """(null_count, min, max) per top-level primitive column over every row group of these
        footers (pyarrow FileMetaData, read once per file when the file facts were read; None where
        a row group lacks the statistic)."""
        out: dict[str, list[Any]] = {}
        for meta in footers:
            for rg in range(meta.num_row_groups):
                group = meta.row_group(rg)
                for j in range(group.num_columns):
                    col = group.column(j)
                    name = col.path_in_schema
                    if "." in name:
                        continue
                    acc = out.setdefault(name, [0, None, None, True, True])
                    st = col.statistics
                    if st is None or not st.has_null_count:
                        acc[0] = None
                    elif acc[0] is not None:
                        acc[0] += st.null_count
                    if st is None or not st.has_min_max:
                        if group.num_rows > (st.null_count if st is not None and st.has_null_count else -1):
                            acc[3] = acc[4] = False
                        continue
                    try:
                        lo, hi = st.min, st.max
                        if acc[1] is None or lo < acc[1]:
                            acc[1] = lo
                        if acc[2] is None or hi > acc[2]:
                            acc[2] = hi
                    except Exception:  # noqa: BLE001 - a statistic Arrow cannot convert
                        acc[3] = acc[4] = False
        return {n: (a[0], a[1] if a[3] else None, a[2] if a[4] else None) for n, a in out.items()}

    def _apply_stats(self, profiles: dict[str, ColumnProfile], names_types: list[tuple[str, str]],
                     stats: dict[str, tuple[int | None, Any, Any]]) -> None:
        for n, t in names_types:
            if n in stats and n in profiles:
                nulls, lo, hi = stats[n]
                apply_exact(profiles[n], null_count=nulls, min_value=lo, max_value=hi,
                            max_chars=self.settings.sample_value_max_chars,
                            orderable_type=orderable(t))

    def _extract_delta(self, store: FileStore, plan: TablePlan, table: TableFacts) -> None:
        from urllib.parse import unquote

        import pyarrow.parquet as pq

        from executor.metadata.readers.delta_reader import read_delta_log
        from executor.metadata.samples import distinct_samples

        if not plan.log_files:
            raise TableExtractionError(f"{plan.folder or '.'}: _delta_log is empty")
        s = self.settings
        log_uri = plan.log_files[0].uri
        root_uri = log_uri.rsplit("/_delta_log/", 1)[0]
        facts = read_delta_log(plan.log_files, store.open)

        def data_uri(path: str) -> str:
            if "://" in path or path.startswith("/"):
                raise TableExtractionError(f"Delta file outside the table folder ({path}): not supported")
            return f"{root_uri}/{unquote(path)}"

        def footer_rows(f) -> int:
            with store.open(data_uri(f.path)) as fh:
                return pq.ParquetFile(fh).metadata.num_rows

        table.row_count = facts.row_count(footer_rows)
        table.file_count = len(facts.files)
        table.size_bytes = facts.size_bytes
        table.partition_columns = list(facts.partition_columns)
        parts = set(facts.partition_columns)
        data_cols = [(n, t) for n, t, _ in facts.columns if n not in parts]
        uris = [data_uri(f.path) for f in facts.files]
        # column mapping: data files name columns by their physical names; report logical names
        phys_cols = [(facts.physical(n), t) for n, t in data_cols]
        logical = {facts.physical(n): n for n, _t in data_cols}
        phys_notes: dict[str, str] = {}
        phys_profiles, phys_samples = self._arrow_profile(store, plan, "parquet", phys_cols, table.row_count, uris,
                                                          notes=phys_notes)
        profiles = {logical[p]: v for p, v in phys_profiles.items()}
        samples = {logical[p]: v for p, v in phys_samples.items()}
        table.column_notes.update({logical.get(p, p): v for p, v in phys_notes.items()})
        if any(p.profile_scope == PROFILE_SAMPLED for p in profiles.values()):
            for n, t in data_cols:
                nulls, lo, hi = facts.column_stats(n)
                apply_exact(profiles[n], null_count=nulls, min_value=lo, max_value=hi, max_chars=s.sample_value_max_chars,
                            orderable_type=orderable(t))
        # partition columns: values from the log, exact over every live file
        for n in parts:
            values = [f.partition_values.get(n) for f in facts.files]
            t = next(tt for nn, tt, _ in facts.columns if nn == n)
            from executor.metadata.profile import ColumnProfiler

            prof = ColumnProfiler(t, text=True, max_chars=s.sample_value_max_chars)
            # a partition value is one per file: rows per file weight nulls and distincts
            prof.add_all(values)
            p = prof.result(PROFILE_EXACT)
            p.null_count = sum((f.stats or {}).get("numRecords", 0) - f.dv_cardinality
                               for f in facts.files if f.partition_values.get(n) in (None, ""))
            profiles[n] = p
            samples[n] = distinct_samples(values, s.sample_values_count, s.sample_value_max_chars)
        cols = []
        for i, (n, t, nullable) in enumerate(facts.columns):
            cols.append(ColumnFacts(n, t, i + 1, nullable, samples.get(n, []), is_partition=n in parts)
                        .set_profile(profiles.get(n)))
        table.columns = cols
