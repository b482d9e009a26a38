"""MetadataExtractor: a data source in, a MetadataResult out.

The way through (each step's rules live in a pure module, this file wires them):
  1. parse the location, open its FileStore, stream the listing          executor.sources
  2. group files into table plans (skips, partitions)                    grouping.plan_tables
  3. read each file's header (CSV) or footer (Parquet), in threads       csv_scan / pyarrow
  4. split folders whose files disagree on schema, name the tables       grouping
  5. per table: exact row count, Spark schema, samples                   this file
A table that fails (corrupt file, unreadable header, Spark error) is recorded as failed with its
error, and the run goes on. Extraction never writes anything: storage is a separate room.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from executor.errors import ExecutorError, TableExtractionError
from executor.metadata import csv_scan
from executor.metadata.format_tables import FormatTables, open_data
from executor.metadata.formats import CSV_LIKE, SUPPORTED_FORMATS, default_delimiter, sniff_file
from executor.metadata.grouping import (
    PlannedFile,
    TablePlan,
    assign_names,
    plan_tables,
    prune_listing,
    split_by_schema,
)
from executor.metadata.model import (
    TABLE_FAILED,
    ColumnFacts,
    MetadataResult,
    TableFacts,
)
from executor.metadata.profile import PROFILE_EXACT, PROFILE_SAMPLED, ColumnProfiler, profile_column
from executor.metadata.samples import distinct_samples, format_value  # noqa: F401 - re-exported
from executor.metadata.spark_types import (
    HIVE_DEFAULT_PARTITION,
    SparkFallback,
    UnsupportedParquetType,
    infer_csv_schema,
    infer_partition_types,
    parquet_schema_to_spark,
)
from executor.payload import PAYLOAD_ENV, JobRequest, parse_payload_json, resolve_source_id, resolve_workflow_id
from executor.redaction import SECRETS
from executor.settings import Settings
from executor.sources.base import FileInfo, FileStore
from executor.sources.location import Location, emulator_hosts, parse_location

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

StoreFactory = Callable[[Location, Settings], FileStore]
# progress(table, totals): called once before the first table (table=None) and after each table;
# totals: tables_done, tables_total, files_done, files_total, bytes_done, bytes_total, rows.
ProgressCallback = Callable[[TableFacts | None, dict[str, int]], None]


def default_store_factory(location: Location, settings: Settings) -> FileStore:
    """Local and DBFS paths read through the file system; Azure through azure-storage-blob."""
    if location.kind == "local":
        from executor.sources.local import LocalFileStore

        return LocalFileStore(location.local_path or location.display)
    if location.kind == "dbfs":
        from executor.sources.local import LocalFileStore

        return LocalFileStore(location.local_path or "/dbfs", kind="dbfs", fuse_root="/dbfs", spark_scheme="dbfs:")
    from executor.sources.azure import AzureBlobFileStore

    return AzureBlobFileStore.from_location(location, settings)


@dataclass
class FileFacts:
    """What one file's header or footer told us."""

    signature: Hashable | None = None
    error: str | None = None
    dialect: csv_scan.CsvDialect | None = None
    header: list[str] | None = None
    parquet_rows: int | None = None
    parquet_footer: Any = None  # Parquet: the footer (FileMetaData), kept for its statistics
    nullable: dict[str, bool] | None = None
    spark_columns: list[tuple[str, str, bool]] | None = None  # Parquet, Avro, ORC: Spark's types
    rows: int | None = None  # JSON, Avro, ORC: exact rows of the file
    malformed: int = 0  # JSON: malformed records
    json_scan: Any = None  # JSON: readers.json_reader.JsonScan


def _parent(uri: str, levels: int) -> str:
    """The folder `levels` segments above a '/'-separated path or URI."""
    for _ in range(levels):
        uri = uri.rsplit("/", 1)[0]
    return uri


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    line = text.splitlines()[0]
    return SECRETS.redact(line[:500])


def _notify(progress: ProgressCallback | None, table: TableFacts | None, totals: dict[str, int]) -> None:
    """Call the progress callback; its failure never fails the run."""
    if progress is None:
        return
    try:
        progress(table, dict(totals))
    except Exception:  # noqa: BLE001 - progress display is best effort
        logger.debug("progress callback failed", exc_info=True)


class MetadataExtractor(FormatTables):
    """Extracts schema, exact row counts and samples of every table under a source path."""

    def __init__(self, spark: SparkSession, settings: Settings | None = None,
                 store_factory: StoreFactory | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self.spark = spark
        self.settings = settings or Settings.from_env(os.environ)
        self.store_factory = store_factory or default_store_factory
        self.env = os.environ if env is None else env

    @property
    def spark_version(self) -> str:
        """'3.5' or '4.0': the rules spark_types applies (others make it ask Spark). Without a
        session (dry run: only schema signatures are needed) the 3.5 rules."""
        if self.spark is None:
            return "3.5"
        return ".".join(self.spark.version.split(".")[:2])

    @property
    def fast(self) -> bool:
        return self.settings.inference == "fast"

    # ------------------------------------------------------------------ payload (the seed's API)

    def _payload_from_environment(self) -> dict[str, Any]:
        return parse_payload_json(self.env.get(PAYLOAD_ENV), PAYLOAD_ENV)

    def _get_workflow_id_from_environment(self) -> str | None:
        """Extract workflow_id from the NUVYN_JOB_PAYLOAD environment variable."""
        return resolve_workflow_id(self._payload_from_environment())

    def _get_source_id_from_environment(self) -> str | None:
        """Extract source_id from NUVYN_JOB_PAYLOAD environment variable (for filtering)."""
        return resolve_source_id(self._payload_from_environment())

    # ------------------------------------------------------------------ extraction

    def extract(self, request: JobRequest, progress: ProgressCallback | None = None) -> MetadataResult:
        return self.extract_metadata(request.data_source_path, request.data_source_type,
                                     include=request.include, exclude=request.exclude, progress=progress,
                                     csv_header=getattr(request, "csv_header", csv_scan.HEADER_AUTO))

    def open_source(self, data_source_path: str, data_source_type: str = "auto") -> tuple[Location, FileStore]:
        hint = data_source_type if data_source_type in ("local", "dbfs", "azure_blob", "adls_gen2") else None
        location = parse_location(data_source_path, hint, emulator_hosts(
            self.settings.azure_connection_string, self.settings.azure_emulator_hosts))
        if location.sas_token:
            SECRETS.add(location.sas_token)
        return location, self.store_factory(location, self.settings)

    def plan(self, data_source_path: str, data_source_type: str = "auto", include=(), exclude=()):
        """Location, store, and the grouped (unnamed, unsplit) table plan: no Spark involved."""
        location, store = self.open_source(data_source_path, data_source_type)
        fmt = data_source_type if data_source_type in SUPPORTED_FORMATS else None

        def sniff(info: FileInfo):
            with store.open(info.uri) as fh:
                return sniff_file(fh)

        plan = plan_tables(store.list_files(prune_listing), format_filter=fmt, include=include, exclude=exclude,
                           sniff=sniff)
        return location, store, plan

    def extract_metadata(self, data_source_path: str, data_source_type: str = "auto",
                         include=(), exclude=(), progress: ProgressCallback | None = None,
                         csv_header: str = csv_scan.HEADER_AUTO) -> MetadataResult:
        """Extract the metadata of every table under `data_source_path`.

        `progress` (optional) is called before the first table and after each one (ProgressCallback).
        `csv_header`: auto (csv_scan.decide_header), true or false for every CSV/TSV file."""
        started = datetime.now(timezone.utc)
        t0 = time.monotonic()
        location, store, plan = self.plan(data_source_path, data_source_type, include, exclude)
        store.configure_spark(self.spark)  # Azure: Spark gets the listing's credential
        logger.info("listed %s: %d data files (%d bytes) in %d groups, %d skipped",
                    location.display, plan.files_found, plan.total_size_bytes, len(plan.tables),
                    len(plan.skipped))
        result = MetadataResult(
            source_path=location.display,
            source_type=location.kind,
            extraction_timestamp=started,
            files_found=plan.files_found,
            total_size_bytes=plan.total_size_bytes,
            skipped=plan.skipped,
        )
        with ThreadPoolExecutor(max_workers=self.settings.io_threads, thread_name_prefix="nuvyn-io") as pool:
            facts = self._read_file_facts(store, plan.tables, pool, csv_header)
            signatures = {uri: f.signature for uri, f in facts.items() if f.signature is not None}
            tables = assign_names(split_by_schema(plan.tables, signatures), location.root_name)
            counts = self._submit_csv_counts(store, tables, facts, pool)
            totals = {"tables_done": 0, "tables_total": len(tables), "files_done": 0,
                      "files_total": plan.files_found, "bytes_done": 0, "bytes_total": plan.total_size_bytes,
                      "rows": 0}
            _notify(progress, None, totals)
            for table in tables:
                result.tables.append(self._extract_table(store, location, table, facts, counts))
                store.release()  # Azure staging route: free the table's staged files
                done = result.tables[-1]
                totals["tables_done"] += 1
                totals["files_done"] += done.file_count
                totals["bytes_done"] += done.size_bytes
                totals["rows"] += done.row_count or 0
                _notify(progress, done, totals)
        logger.info("extracted %d tables (%d failed) in %.1fs", len(result.tables),
                    len(result.failed_tables), time.monotonic() - t0)
        return result

    # ------------------------------------------------------------------ per file

    def _read_file_facts(self, store: FileStore, tables: list[TablePlan],
                         pool: ThreadPoolExecutor, csv_header: str = csv_scan.HEADER_AUTO) -> dict[str, FileFacts]:
        jobs: dict[str, Future] = {}
        for t in tables:
            if t.is_delta:  # one table by definition: read from its log in _extract_delta
                continue
            # JSON keeps its profile rows while counting: each file keeps its share of the bound
            share = -(-self.settings.profile_max_rows // max(1, len(t.files)))
            for f in t.files:
                jobs[f.info.uri] = pool.submit(self._file_facts, store, f, t.file_format, share, csv_header)
        return {uri: fut.result() for uri, fut in jobs.items()}

    def _file_facts(self, store: FileStore, pf: PlannedFile, file_format: str,
                    sample_rows: int | None = None, csv_header: str = csv_scan.HEADER_AUTO) -> FileFacts:
        info = pf.info
        if info.size == 0:
            return FileFacts(error=f"{info.relative or info.name} is empty (0 bytes)")
        try:
            if file_format == "json":
                return self._json_file_facts(store, pf, FileFacts, sample_rows)
            if file_format == "avro":
                return self._avro_file_facts(store, pf, FileFacts)
            if file_format == "orc":
                return self._orc_file_facts(store, pf, FileFacts)
            if file_format in CSV_LIKE:
                with open_data(store, info.uri, pf.compression) as fh:
                    head = fh.read(csv_scan.SNIFF_BYTES)
                    if b"\x00" in head[:4096]:
                        return FileFacts(error=f"{info.relative or info.name} is not a text file (binary content)")
                    dialect = csv_scan.sniff_dialect(head, delimiter=default_delimiter(file_format),
                                                     csv_header=csv_header, spark_version=self.spark_version)
                    fh.seek(0)
                    first = csv_scan.read_head(fh, dialect, max_records=0 if dialect.header else 1)
                header = first.header
                # headerless files are told apart by their width (Spark takes it from the first
                # record): files of different widths never merge into one table
                shape = tuple(header) if header is not None else ("<no header>", len(first.rows[0]) if first.rows else 0)
                sig = (file_format, dialect.signature(), shape)
                return FileFacts(signature=sig, dialect=dialect, header=header)
            if file_format == "parquet":
                return self._parquet_file_facts(store, pf)
            return FileFacts(error=f"unsupported format {file_format}")
        except FileNotFoundError:
            return FileFacts(error=f"{info.relative or info.name} disappeared after listing")
        except PermissionError:
            return FileFacts(error=f"{info.relative or info.name} is not readable (permission denied)")
        except Exception as exc:  # noqa: BLE001 - recorded as the table's error, the run goes on
            return FileFacts(error=f"{info.relative or info.name}: {_first_line(exc)}")

    def _parquet_file_facts(self, store: FileStore, pf: PlannedFile) -> FileFacts:
        """A Parquet file's facts from its footer, as Spark sees them: the schema tree read here
        (readers.parquet_footer), so that what Spark refuses fails and what Spark reads stands even
        when pyarrow would refuse it; rows = the sum of the row groups' num_rows (Spark's count)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from executor.metadata.readers.parquet_footer import read_footer_facts, spark_refusal, tree_spark_columns

        info = pf.info
        where = info.relative or info.name
        with store.open(info.uri) as fh:
            tree = read_footer_facts(fh)
            refusal = spark_refusal(tree.root)
            if refusal:
                return FileFacts(error=f"{where}: {refusal}; Spark cannot read this file (rewrite it with a valid "
                                       "schema)")
            fh.seek(0)
            try:
                meta = pq.ParquetFile(fh).metadata
                arrow = meta.schema.to_arrow_schema()
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                logger.info("%s: pyarrow refuses the schema (%s); the footer is read without it", where, exc)
                meta, arrow = None, None
        spark_columns = None
        try:
            spark_columns = (parquet_schema_to_spark(meta.schema, self.spark_version) if meta is not None
                             else tree_spark_columns(tree.root, self.spark_version))
        except UnsupportedParquetType as exc:
            return FileFacts(error=f"{where}: {exc}; Spark cannot read this column type (rewrite the file with a "
                                   "supported type)")
        except SparkFallback:
            pass  # Spark itself is asked for this table's schema
        if spark_columns is not None:
            sig = ("parquet", tuple(sorted((n, t) for n, t, _ in spark_columns)))
        elif arrow is not None:
            sig = ("parquet", tuple(sorted((f.name, str(f.type)) for f in arrow)))
        else:
            sig = ("parquet", tuple(sorted(c.name for c in tree.root.children)))
        if tree.num_rows != tree.rows:
            logger.info("%s: footer num_rows %d, row groups hold %d (Spark counts the row groups)", where,
                        tree.num_rows, tree.rows)
        return FileFacts(signature=sig, parquet_rows=tree.rows, parquet_footer=meta,
                         nullable={c.name: c.repetition == "optional" for c in tree.root.children},
                         spark_columns=spark_columns)

    def _submit_csv_counts(self, store: FileStore, tables: list[TablePlan], facts: dict[str, FileFacts],
                           pool: ThreadPoolExecutor) -> dict[str, Future]:
        counts: dict[str, Future] = {}
        for t in tables:
            if t.file_format not in CSV_LIKE or t.error:
                continue
            if any(facts[f.info.uri].error for f in t.files):
                continue
            for f in t.files:
                counts[f.info.uri] = pool.submit(self._count_csv, store, f, facts[f.info.uri].dialect)
        return counts

    @staticmethod
    def _count_csv(store: FileStore, pf: PlannedFile, dialect: csv_scan.CsvDialect | None) -> csv_scan.CsvCount:
        assert dialect is not None
        with open_data(store, pf.info.uri, pf.compression) as fh:
            return csv_scan.count_records(fh, dialect)

    # ------------------------------------------------------------------ per table

    def _extract_table(self, store: FileStore, location: Location, plan: TablePlan,
                       facts: dict[str, FileFacts], counts: dict[str, Future]) -> TableFacts:
        root = self._table_root(store, location, plan)
        table = TableFacts(
            table_name=plan.name,
            file_path=root,
            file_type=plan.file_format,
            file_count=len(plan.files),
            size_bytes=plan.size_bytes,
            partition_columns=list(plan.partition_keys),
        )
        try:
            if plan.error:
                raise TableExtractionError(plan.error)
            if plan.is_delta:
                self._extract_delta(store, plan, table)
                return table
            bad = next((facts[f.info.uri].error for f in plan.files if facts[f.info.uri].error), None)
            if bad:
                raise TableExtractionError(bad)
            if plan.file_format in CSV_LIKE:
                self._extract_csv(store, plan, facts, counts, table)
            elif plan.file_format == "json":
                self._extract_json(store, plan, facts, table)
            elif plan.file_format == "avro":
                self._extract_avro(store, plan, facts, table)
            elif plan.file_format == "orc":
                self._extract_orc(store, plan, facts, table)
            else:
                self._extract_parquet(store, plan, facts, table)
        except Exception as exc:  # noqa: BLE001 - one table fails, the run goes on
            table.status = TABLE_FAILED
            table.error_message = _first_line(exc) if not isinstance(exc, ExecutorError) else SECRETS.redact(str(exc))
            table.columns = []
            table.row_count = None
            logger.warning("table %s failed: %s", plan.name, table.error_message)
        return table

    def _table_root(self, store: FileStore, location: Location, plan: TablePlan) -> str:
        """The table's root as recorded: the Delta folder, the lone file, or the table's folder."""
        if plan.is_delta:
            uri = plan.log_files[0].uri.rsplit("/_delta_log/", 1)[0] if plan.log_files else location.display
            return store.display(uri)
        first = plan.files[0].info
        if first.relative == "" or (len(plan.files) == 1 and not plan.partitioned):
            return store.display(first.uri)
        depth = first.relative.count("/") - (plan.folder.count("/") + 1 if plan.folder else 0)
        return store.display(_parent(first.uri, depth + 1))

    def _partition_types(self, store: FileStore, plan: TablePlan) -> list[tuple[str, str]]:
        """Partition column types as Spark infers them: ported rules, else Spark's own inference
        through a text read of the paths (no data is read)."""
        if self.fast:
            try:
                return infer_partition_types(plan.partition_value_lists(), spark_version=self.spark_version)
            except SparkFallback:
                pass
        uris = [store.spark_uri(f.info.uri) for f in plan.files]
        schema = self.spark.read.format("text").option("basePath", self._root_spark_uri(store, plan)).load(uris).schema
        return [(f.name, f.dataType.simpleString()) for f in schema.fields if f.name != "value"]

    def _root_spark_uri(self, store: FileStore, plan: TablePlan) -> str:
        """The partitioned table's folder as Spark reads it (its basePath)."""
        return _parent(store.spark_uri(plan.files[0].info.uri), len(plan.partition_keys) + 1)

    def _partition_facts(self, plan: TablePlan, types: list[tuple[str, str]], start: int) -> list[ColumnFacts]:
        cols = []
        s = self.settings
        by_key = plan.partition_value_lists()
        for i, (name, type_string) in enumerate(types):
            raw = by_key.get(name, [])
            values = [v for v in raw if v != HIVE_DEFAULT_PARTITION]
            profile = ColumnProfiler(type_string, text=True, max_chars=s.sample_value_max_chars).add_all(
                dict.fromkeys(values)).result(PROFILE_EXACT)  # over the distinct folder values: exact
            default = len(values) < len(raw)
            profile.null_count = None if default else 0  # rows under the default partition are not counted
            cols.append(ColumnFacts(name, type_string, start + i, True,
                                    distinct_samples(values, s.sample_values_count, s.sample_value_max_chars),
                                    is_partition=True).set_profile(profile))
        return cols

    def _csv_reader(self, dialect: csv_scan.CsvDialect):
        return (self.spark.read.option("header", str(dialect.header).lower())
                .option("sep", dialect.delimiter).option("quote", '"').option("escape", '"')
                .option("inferSchema", "true").option("mode", "PERMISSIVE"))

    def _csv_sample(self, store: FileStore, plan: TablePlan, dialect: csv_scan.CsvDialect,
                    budget: int) -> tuple[list[str] | None, list[list[str]]]:
        """The header and up to `budget` records from the table's first files."""
        header: list[str] | None = None
        rows: list[list[str]] = []
        for f in plan.files[: self.settings.infer_sample_files]:
            with open_data(store, f.info.uri, f.compression) as fh:
                head = csv_scan.read_head(fh, dialect, max_records=budget - len(rows))
            header = header if header is not None else head.header
            rows.extend(head.rows)
            if len(rows) >= budget:
                break
        return header, rows

    def _infer_csv_sample(self, plan: TablePlan, dialect: csv_scan.CsvDialect, header: list[str] | None,
                          rows: list[list[str]]) -> list[tuple[str, str]]:
        """[(Spark's column name, type)] for the sample: the ported rules, else Spark itself."""
        if self.fast:
            try:
                return infer_csv_schema(header if dialect.header else None, rows, spark_version=self.spark_version)
            except SparkFallback as exc:
                logger.debug("table %s: asking Spark for the CSV schema (%s)", plan.name, exc)
        lines = csv_scan.to_csv_lines(header, rows, dialect.delimiter)
        schema = self._csv_reader(dialect).csv(self.spark.sparkContext.parallelize(lines, 1)).schema
        return [(f.name, f.dataType.simpleString()) for f in schema.fields]

    def _infer_csv_full_scan(self, store: FileStore, plan: TablePlan,
                             dialect: csv_scan.CsvDialect) -> list[tuple[str, str]]:
        uris = [store.spark_uri(f.info.uri) for f in plan.files]
        schema = (self._csv_reader(dialect).option("multiLine", "true").option("encoding", dialect.spark_encoding)
                  .csv(uris).schema)
        return [(f.name, f.dataType.simpleString()) for f in schema.fields]

    def _extract_csv(self, store: FileStore, plan: TablePlan, facts: dict[str, FileFacts],
                     counts: dict[str, Future], table: TableFacts) -> None:
        s = self.settings
        dialect = facts[plan.files[0].info.uri].dialect
        assert dialect is not None
        table.csv_header = dialect.header
        table.csv_header_reason = dialect.header_reason
        total = 0
        for f in plan.files:
            total += counts[f.info.uri].result().data_rows
        table.row_count = total

        rows: list[list[str]] = []
        budget = s.infer_sample_records
        if budget:
            # one read serves inference (the first `budget` records) and profiles (profile_max_rows)
            header, rows = self._csv_sample(store, plan, dialect, max(budget, s.profile_max_rows))
            inferred = self._infer_csv_sample(plan, dialect, header, rows[:budget])
        else:  # the full-scan path: Spark infers from every record of every file
            inferred = self._infer_csv_full_scan(store, plan, dialect)
            rows = self._csv_sample(store, plan, dialect, s.profile_max_rows)[1]
        rows = rows[: s.profile_max_rows]
        scope = PROFILE_EXACT if len(rows) >= total else PROFILE_SAMPLED
        # Names exactly as in the file's header (Spark renames duplicates and blanks: a0, a1, _c2);
        # types from Spark, by position.
        file_header = facts[plan.files[0].info.uri].header
        cols: list[ColumnFacts] = []
        for i, (spark_name, type_string) in enumerate(inferred):
            values = [r[i] if i < len(r) else None for r in rows]
            name = file_header[i] if file_header is not None and i < len(file_header) else spark_name
            profile = profile_column(values, type_string, scope, text=True, max_chars=s.sample_value_max_chars)
            cols.append(ColumnFacts(name, type_string, i + 1, True,
                                    distinct_samples(values, s.sample_values_count, s.sample_value_max_chars))
                        .set_profile(profile))
        if plan.partitioned:
            cols.extend(self._partition_facts(plan, self._partition_types(store, plan), len(cols) + 1))
        table.columns = cols

    def _extract_parquet(self, store: FileStore, plan: TablePlan, facts: dict[str, FileFacts],
                         table: TableFacts) -> None:
        table.row_count = sum(facts[f.info.uri].parquet_rows or 0 for f in plan.files)
        partition_names = set(plan.partition_keys)
        first = facts[plan.files[0].info.uri]
        part_types: list[tuple[str, str]] = []
        if self.fast and first.spark_columns is not None:
            data_fields = [(n, t) for n, t, _ in first.spark_columns if n not in partition_names]
            if plan.partitioned:
                part_types = self._partition_types(store, plan)
        else:
            uris = [store.spark_uri(f.info.uri) for f in plan.files]
            reader = self.spark.read
            if plan.partitioned:
                reader = reader.option("basePath", self._root_spark_uri(store, plan))
            spark_schema = reader.parquet(*uris).schema
            data_fields = [(f.name, f.dataType.simpleString()) for f in spark_schema.fields
                           if f.name not in partition_names]
            part_types = [(f.name, f.dataType.simpleString()) for f in spark_schema.fields
                          if f.name in partition_names]
        nullable = first.nullable or {}
        profiles, samples = self._arrow_profile(store, plan, "parquet", data_fields, table.row_count,
                                                notes=table.column_notes)
        footers = [facts[f.info.uri].parquet_footer for f in plan.files]
        if any(p.profile_scope == PROFILE_SAMPLED for p in profiles.values()) and all(m is not None for m in footers):
            # footer statistics: exact null counts, min and max without reading data pages
            self._apply_stats(profiles, data_fields, self.parquet_footer_stats(footers))
        cols = [ColumnFacts(n, t, i + 1, bool(nullable.get(n, True)), samples.get(n, [])).set_profile(profiles.get(n))
                for i, (n, t) in enumerate(data_fields)]
        if plan.partitioned:
            cols.extend(self._partition_facts(plan, part_types, len(cols) + 1))
        table.columns = cols
