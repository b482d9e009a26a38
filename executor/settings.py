"""One typed settings layer for the job and the API, read from an environment mapping at the edge.

Each settings class is a frozen dataclass whose fields name their environment variable, description
and rules in their metadata (`_doc`); `from_env(env)` parses them (EnvSettings) and `describe()` lists
them for the docs. Secret values are `Secret` (executor.redaction): masked in repr/str, read with
get_secret_value(), and known to the redactor from the moment they are built. Nothing here touches
os.environ: main, cli and the API server pass the environment in.
"""

from __future__ import annotations

import operator
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from executor.errors import SettingsError
from executor.redaction import Secret as Secret  # re-exported: settings declare their secret fields with it

_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_TRUE = {"1", "true", "yes", "on"}
MIN_TOKEN_CHARS = 16
MIB = 1 << 20


def reveal(secret: Secret | None) -> str | None:
    """The value of an optional secret, for the call that needs it (never to keep as a str)."""
    return None if secret is None else secret.get_secret_value()


def on_databricks(env: Mapping[str, str]) -> bool:
    """True inside a Databricks runtime (the runtime sets DATABRICKS_RUNTIME_VERSION)."""
    return bool(env.get("DATABRICKS_RUNTIME_VERSION"))


def _doc(text: str, env: str, **rules: Any) -> dict[str, Any]:
    """A field's metadata: its description, environment variable and rules (ge, gt, le, choices,
    identifier) checked by EnvSettings.__post_init__."""
    return {"description": text, "env": env, **rules}


def _setting(default: Any, env: str, *text: str, **rules: Any) -> Any:
    """A settings field: its default, environment variable, description (the text parts joined) and
    rules (see _doc)."""
    return field(default=default, metadata=_doc("".join(text), env, **rules))


def _flag(raw: str) -> bool:
    return raw.strip().lower() in _TRUE


# How env_values reads a field, by its annotation (the modules use `from __future__ import annotations`)
_PARSERS: dict[str, Callable[[str], Any]] = {"int": int, "float": float, "str": str.strip, "bool": _flag,
                                             "Secret": Secret}
_NOT_A = {"int": "an integer", "float": "a number"}


def _kind(cls: type, annotation: Any) -> str:
    name = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    kind = name.removesuffix(" | None")
    if kind not in _PARSERS:
        raise TypeError(f"{cls.__name__}: env_values cannot read a {annotation!r} field")
    return kind


def env_values(cls: type, env: Mapping[str, str]) -> dict[str, Any]:
    """Keyword arguments for the settings dataclass `cls` from the environment variables its fields
    name in their metadata ("env"): unset or blank variables are left out, text is stripped (secrets
    are kept as they are), int and float fields are parsed (else SettingsError naming the variable)."""
    values: dict[str, Any] = {}
    for f in fields(cls):
        raw = env.get(f.metadata["env"])
        if raw is None or raw.strip() == "":
            continue
        kind = _kind(cls, f.type)
        try:
            values[f.name] = _PARSERS[kind](raw)
        except ValueError:
            raise SettingsError(f"{f.metadata['env']}={raw!r} is not {_NOT_A[kind]}") from None
    return values


def describe_fields(cls: type) -> list[tuple[str, str, str]]:
    """(environment variable, default, description) of each field of a settings dataclass, for the docs."""
    return [(f.metadata["env"], "(derived)" if f.default is MISSING else repr(f.default),
             f.metadata["description"]) for f in fields(cls)]


def _check_rules(name: str, value: Any, env: str, rules: Mapping[str, Any]) -> None:
    """The field's metadata rules (ge, gt, le, choices, identifier): SettingsError naming `env`."""
    if value is None:
        return
    if "choices" in rules and value not in rules["choices"]:
        raise SettingsError(f"{env}={value!r} is invalid; expected one of: {', '.join(rules['choices'])}")
    if rules.get("identifier") and not _IDENT_RE.match(value):
        raise SettingsError(f"{env}={value!r} is not a valid identifier; use letters, digits and underscores")
    for rule, ok, words in (("ge", operator.ge, ">="), ("gt", operator.gt, ">"), ("le", operator.le, "<=")):
        if rule in rules and not ok(value, rules[rule]):
            raise SettingsError(f"{env}={value} must be {words} {rules[rule]}")


_E = TypeVar("_E", bound="EnvSettings")


def _fields(obj: Any) -> tuple[Field[Any], ...]:
    return fields(obj)


class EnvSettings:
    """Base of the settings dataclasses: from_env (env_values), describe, the field rules, and
    plain strings given for Secret fields wrapped as Secret."""

    def __post_init__(self) -> None:
        for f in _fields(self):
            value = getattr(self, f.name)
            if isinstance(value, str) and _kind(type(self), f.type) == "Secret":
                value = Secret(value)
                object.__setattr__(self, f.name, value)
            _check_rules(f.name, value, f.metadata["env"], f.metadata)

    @classmethod
    def from_env(cls: type[_E], env: Mapping[str, str]) -> _E:
        return cls(**env_values(cls, env))

    @classmethod
    def describe(cls) -> list[tuple[str, str, str]]:
        """(environment variable, default, description) for the docs."""
        return describe_fields(cls)


@dataclass(frozen=True)
class Settings(EnvSettings):
    """Executor settings. Defaults suit a local run; on Databricks the catalog is hive_metastore."""

    catalog: str = _setting("spark_catalog", "NUVYN_METADATA_CATALOG",
        "Catalog of the metadata tables: hive_metastore on Databricks, spark_catalog locally.", identifier=True)
    schema: str = _setting("_executor_metadata", "NUVYN_METADATA_SCHEMA",
        "Schema (database) that holds the four metadata tables.", identifier=True)
    warehouse_dir: str = _setting(str(Path.home() / ".nuvyn" / "warehouse"), "NUVYN_WAREHOUSE_DIR",
        "Local runs only: root of the local Spark warehouse that holds the Delta tables.")
    tables_location: str | None = _setting(None, "NUVYN_TABLES_LOCATION",
        "Where the Delta tables live. Unset on Databricks: managed tables. Locally it defaults to "
        "<warehouse>/<schema>.db so every process finds the same tables.")
    spark_master: str = _setting("local[*]", "NUVYN_SPARK_MASTER",
        "Local runs only: Spark master URL.")
    spark_packages: str | None = _setting(None, "NUVYN_SPARK_PACKAGES",
        "Local runs only: extra Maven packages (comma-separated group:artifact:version) for the local "
        "session besides Delta's, e.g. spark-avro for `make submit` on Avro files.")
    infer_sample_records: int = _setting(10000, "NUVYN_INFER_SAMPLE_RECORDS",
        "CSV: records per table given to Spark's schema inference (0 = every record, the slow "
        "full-scan path). Counts are always exact, whatever this bound.", ge=0)
    infer_sample_files: int = _setting(20, "NUVYN_INFER_SAMPLE_FILES",
        "CSV: at most this many files per table feed the inference sample.", ge=1)
    sample_value_max_chars: int = _setting(100, "NUVYN_SAMPLE_VALUE_MAX_CHARS",
        "Each sample value is cut to this many characters.", ge=1)
    sample_values_count: int = _setting(5, "NUVYN_SAMPLE_VALUES_COUNT",
        "Distinct non-null sample values kept per column.", ge=1)
    profile_max_rows: int = _setting(100000, "NUVYN_PROFILE_MAX_ROWS",
        "Column profiles (null_count, distinct_count, min_value, max_value) are computed over at most "
        "this many rows per table (the first rows of its first files): profile_scope says exact when "
        "they were all the table's rows, else sampled. Row counts are always exact.", ge=1)
    inference: str = _setting("fast", "NUVYN_INFERENCE",
        "fast = Spark's inference rules run in Python (executor/metadata/types/, checked "
        "against Spark in the tests; Spark itself is asked whenever a value is outside the ported "
        "rules); spark = ask Spark for every table (one or more Spark jobs per table).", choices=("fast", "spark"))
    table_layout: str = _setting("cluster", "NUVYN_TABLE_LAYOUT",
        "How the metadata tables are laid out for queries by workflow_id/source_id (Delta has no "
        "indexes): cluster = liquid clustering (CLUSTER BY), zorder = OPTIMIZE ... ZORDER BY when "
        "`nuvyn-executor migrate --optimize` runs, none.", choices=("cluster", "zorder", "none"))
    io_threads: int | None = _setting(None, "NUVYN_IO_THREADS",
        "Threads that read file headers, footers, samples and count CSV records; also the most requests "
        "a remote store has in flight and the size of its HTTP connection pool. Unset: 8 for local "
        "files, 32 for remote stores (Azure, DBFS), where each request waits a round trip.", ge=1)
    io_tail_bytes: int = _setting(64 * 1024, "NUVYN_IO_TAIL_BYTES",
        "Remote stores: bytes read from a file's end in one request when its footer is wanted (Parquet, "
        "ORC); a file no larger is read whole in one request. A second request only for a larger footer.",
        ge=16)
    io_max_inflight_bytes: int = _setting(256 * 1024**2, "NUVYN_IO_MAX_INFLIGHT_BYTES",
        "Remote stores: most bytes fetched ahead of a sequential read (big CSV/JSON files, read in "
        "parallel 8 MB ranges) and not yet consumed, over all files at once.", ge=1024**2)
    io_cache_bytes: int = _setting(128 * 1024**2, "NUVYN_IO_CACHE_BYTES",
        "Remote stores: most bytes of small files (fetched whole by one request) kept from the file "
        "facts step for the table's samples, so that sampled files are not requested twice.", ge=0)
    run_timeout_s: float = _setting(14400.0, "NUVYN_RUN_TIMEOUT_S",
        "The Databricks job's timeout in seconds (the bundle's timeout_seconds, passed as --run-timeout-s): a "
        "Databricks run whose `running` row is older than this and that never recorded its end is marked "
        "abandoned, whatever the Jobs API says (executor/storage/liveness.py).", gt=0)

    azure_connection_string: Secret | None = _setting(None, "AZURE_STORAGE_CONNECTION_STRING",
        "Azure sources: a storage connection string (AccountKey or SharedAccessSignature). Used when "
        "the path carries no SAS token. Secret: never logged.")
    azure_account_key: Secret | None = _setting(None, "NUVYN_AZURE_ACCOUNT_KEY",
        "Azure sources: the storage account key, used when neither a SAS token nor a connection "
        "string is given. Secret: never logged.")
    azure_key_secret_scope: str | None = _setting(None, "NUVYN_AZURE_KEY_SECRET_SCOPE",
        "Azure sources on Databricks: secret scope holding the account key (with "
        "NUVYN_AZURE_KEY_SECRET_KEY); read with dbutils.secrets.get.")
    azure_key_secret_key: str | None = _setting(None, "NUVYN_AZURE_KEY_SECRET_KEY",
        "Azure sources on Databricks: key of the account key in the secret scope.")
    azure_uc_credentials: str = _setting("auto", "NUVYN_AZURE_UC_CREDENTIALS",
        "Azure sources on Databricks: auto = ask Unity Catalog for a short-lived credential for the path "
        "(temporary path credentials; the path must be under an external location) before the service "
        "principal; off = never.", choices=("auto", "off"))
    azure_sp_secret_scope: str | None = _setting(None, "NUVYN_AZURE_SP_SECRET_SCOPE",
        "Azure sources on Databricks: secret scope holding a service principal's tenant-id, client-id and "
        "client-secret, used when Unity Catalog gives no credential for the path (bundle variable "
        "azure_sp_secret_scope).")
    azure_authority_host: str = _setting("https://login.microsoftonline.com", "NUVYN_AZURE_AUTHORITY_HOST",
        "Azure sources on Databricks: the Microsoft Entra ID authority the secret-scope service principal "
        "gets its tokens from (https://login.microsoftonline.com; https://login.chinacloudapi.cn or "
        "https://login.microsoftonline.us for the national clouds). https only; a host other than the "
        "public cloud's is used as given (no instance discovery).")
    azure_emulator_hosts: str | None = _setting(None, "NUVYN_AZURE_EMULATOR_HOSTS",
        "Azure sources: comma-separated host:port of storage emulators (Azurite) besides the BlobEndpoint "
        "of AZURE_STORAGE_CONNECTION_STRING. Any other http(s) host that is not <account>.blob or .dfs."
        "core.windows.net is refused before a connection is made.")
    azure_credential_accounts: str | None = _setting(None, "NUVYN_AZURE_CREDENTIAL_ACCOUNTS",
        "Azure sources: comma-separated storage endpoints the server's own credential (account key, "
        "secret-scope key, DefaultAzureCredential) may be used for: a bare account name is the public cloud "
        "(core.windows.net) only, <account>.blob.<suffix> another cloud, http://<host>:<port>/<account> an "
        "emulator; required by `serve` for paths without a SAS token. A connection string serves only its "
        "own account.")
    azure_spark_route: str = _setting("auto", "NUVYN_AZURE_SPARK_ROUTE",
        "How Spark reads Azure files: abfss (Databricks and hadoop-azure; the production default), "
        "wasbs, staging (download each table's files to a local folder; the emulator's route), or "
        "auto (staging for the Azurite emulator, abfss otherwise).", choices=("auto", "abfss", "wasbs", "staging"))
    azure_staging_dir: str | None = _setting(None, "NUVYN_AZURE_STAGING_DIR",
        "Staging route: local folder for staged files (default: a private temp folder).")
    azure_staging_max_bytes: int = _setting(8 * 1024**3, "NUVYN_AZURE_STAGING_MAX_BYTES",
        "Staging route: most bytes staged at once (one table's files); a larger table fails with a "
        "clear message.", ge=1)
    azure_listing: str = _setting("auto", "NUVYN_AZURE_LISTING",
        "How Azure folders are listed: flat (one paged listing of every blob under the prefix), "
        "hierarchical (folder by folder, sibling folders in parallel, skipped folders never listed: "
        "the native way on a hierarchical-namespace account), or auto (hierarchical for ADLS Gen2 "
        "paths, dfs endpoint or abfss://, flat otherwise).", choices=("auto", "flat", "hierarchical"))

    @property
    def qualified_schema(self) -> str:
        return f"`{self.catalog}`.`{self.schema}`"

    def table_name(self, table: str) -> str:
        return f"`{self.catalog}`.`{self.schema}`.`{table}`"

    def resolved_tables_location(self, databricks: bool) -> str | None:
        if self.tables_location:
            return self.tables_location.rstrip("/")
        if databricks:
            return None
        return str(Path(self.warehouse_dir) / f"{self.schema}.db")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        values = env_values(cls, env)
        if "catalog" not in values and on_databricks(env):
            values["catalog"] = "hive_metastore"
        return cls(**values)


@dataclass(frozen=True)
class ReadSettings(EnvSettings):
    """Where metadata reads go."""

    backend: str = _setting("auto", "NUVYN_READ_BACKEND",
        "auto: the SQL Statement Execution API when NUVYN_SQL_WAREHOUSE_ID is set, Spark on Databricks, "
        "else delta-rs on the local tables (no JVM); or force delta, spark or statement.",
        choices=("auto", "delta", "spark", "statement"))
    sql_warehouse_id: str | None = _setting(None, "NUVYN_SQL_WAREHOUSE_ID",
        "Databricks SQL warehouse that runs the metadata reads through the Statement Execution API "
        "(databricks-sdk; host and token from the SDK's configuration: DATABRICKS_HOST, DATABRICKS_TOKEN, ...).")
    statement_timeout_s: float = _setting(60.0, "NUVYN_SQL_STATEMENT_TIMEOUT_S",
        "Statement API: seconds a read may run on the warehouse before it is cancelled and reported as failed.", gt=0)
    warehouse_start_timeout_s: float = _setting(600.0, "NUVYN_SQL_WAREHOUSE_START_TIMEOUT_S",
        "Statement API: seconds a read may wait (PENDING) for a stopped warehouse to start and take it; "
        "a classic or pro warehouse takes minutes, a serverless one seconds.", gt=0)
    result_disposition: str = _setting("auto", "NUVYN_SQL_RESULT_DISPOSITION",
        "Statement API: auto = INLINE, and EXTERNAL_LINKS again for a result over the 25 MiB INLINE limit; "
        "inline; external_links (presigned links, fetched without the workspace token).",
        choices=("auto", "inline", "external_links"))
    warehouse_timezone: str | None = _setting(None, "NUVYN_SQL_WAREHOUSE_TIMEZONE",
        "Statement API: the warehouse's session time zone (IANA name), for timestamps it returns without an "
        "offset; unset: asked once with SELECT current_timezone().")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.backend == "statement" and not self.sql_warehouse_id:
            raise SettingsError("NUVYN_READ_BACKEND=statement needs NUVYN_SQL_WAREHOUSE_ID (the SQL warehouse id)")
        if self.sql_warehouse_id is not None and not _warehouse_id_ok(self.sql_warehouse_id):
            raise SettingsError("NUVYN_SQL_WAREHOUSE_ID must be a warehouse id: letters and digits only")

    def choose(self, databricks: bool) -> str:
        """The backend to use: delta, spark or statement."""
        if self.backend != "auto":
            return self.backend
        if self.sql_warehouse_id:
            return "statement"
        return "spark" if databricks else "delta"


def _warehouse_id_ok(value: str) -> bool:
    return value.isascii() and value.isalnum() and len(value) <= 64


@dataclass(frozen=True)
class ReadPoolSettings(EnvSettings):
    """Bounds of the API's metadata reads."""

    workers: int = _setting(4, "NUVYN_API_READ_WORKERS",
        "Metadata reads (/workflows/{id}/metadata and /changes) running at once, in threads off the event loop.", gt=0)
    max_pending: int = _setting(64, "NUVYN_API_READ_MAX_PENDING",
        "Metadata reads running or waiting; one more answers 503 with Retry-After at once.", gt=0)
    timeout_s: float = _setting(30.0, "NUVYN_API_READ_TIMEOUT_S",
        "Seconds a metadata read may take; a slower one answers 504.", gt=0)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_pending < self.workers:
            raise SettingsError("NUVYN_API_READ_MAX_PENDING must be >= NUVYN_API_READ_WORKERS")


@dataclass(frozen=True, kw_only=True)
class ApiSettings(EnvSettings):
    """Settings of `nuvyn-executor serve`."""

    token: Secret | None = _setting(None, "NUVYN_API_TOKEN",
        "Bearer token clients must send (Authorization: Bearer <token>).")
    allow_no_auth: bool = _setting(False, "NUVYN_API_ALLOW_NO_AUTH",
        "Run without authentication (explicit opt-in, logged as a warning). NUVYN_API_ALLOW_NO_AUTH=1 "
        "or `serve --no-auth`.")
    launcher: str = _setting("local", "NUVYN_API_LAUNCHER",
        "How jobs run: 'local' starts `python -m executor.main` as a child process; 'databricks' calls "
        "the Jobs API run_now on NUVYN_DATABRICKS_JOB_ID.", choices=("local", "databricks"))
    jobs_db: str = field(metadata=_doc(
        "SQLite file that records the jobs (default <NUVYN_WAREHOUSE_DIR>/_api/jobs.sqlite3).", "NUVYN_API_JOBS_DB"))
    max_concurrent_jobs: int = _setting(2, "NUVYN_API_MAX_CONCURRENT_JOBS",
        "Local launcher: child processes running at once; more jobs wait in a queue (status 'created').", ge=1, le=64)
    max_body_bytes: int = _setting(1_000_000, "NUVYN_API_MAX_BODY_BYTES",
        "Largest accepted request body in bytes; larger ones get 413.", ge=1024)
    payload_transport: str = _setting("env", "NUVYN_API_PAYLOAD_TRANSPORT",
        "Local launcher: the payload reaches the child in the NUVYN_JOB_PAYLOAD environment variable "
        "(readable only by the same user), never on the command line.", choices=("env",))
    python_executable: str | None = _setting(None, "NUVYN_API_PYTHON",
        "Local launcher: Python interpreter of the child process (default: the server's).")
    databricks_job_id: int | None = _setting(None, "NUVYN_DATABRICKS_JOB_ID",
        "Databricks launcher: id of the deployed executor job to run_now.")
    databricks_host: str | None = _setting(None, "DATABRICKS_HOST",
        "Databricks launcher: workspace URL (else the SDK's own configuration).")
    databricks_token: Secret | None = _setting(None, "DATABRICKS_TOKEN",
        "Databricks launcher: personal access token (else the SDK's own auth).")
    poll_seconds: float = _setting(10.0, "NUVYN_API_POLL_SECONDS",
        "Databricks launcher: seconds between jobs.get_run polls of active runs.", gt=0)
    source_roots: str | None = _setting(None, "NUVYN_API_SOURCE_ROOTS",
        "Comma-separated sources the API accepts: absolute local folders, dbfs:/ prefixes, Azure "
        "<account>/<container>[/<prefix>]. Paths are resolved (realpath) before the check; anything outside "
        "gets 403. Unset: local and DBFS paths are refused, Azure paths allowed.")
    job_timeout_s: float = _setting(6 * 3600, "NUVYN_API_JOB_TIMEOUT_S",
        "A job running longer is stopped (local: its process group is terminated; Databricks: cancel_run) "
        "and ends 'failed'.", gt=0)
    max_queued_jobs: int = _setting(100, "NUVYN_API_MAX_QUEUED_JOBS",
        "Jobs waiting to start (status 'created') at most; one more gets 429 with Retry-After.", ge=1)
    job_log_retention_days: float = _setting(7.0, "NUVYN_API_JOB_LOG_RETENTION_DAYS",
        "Local launcher: stdout/stderr files of finished jobs older than this are deleted (at start and "
        "after each job).", gt=0)
    header_timeout_s: float = _setting(10.0, "NUVYN_API_HEADER_TIMEOUT_S",
        "A connection that has not sent complete request headers within this many seconds is closed.", gt=0)
    keep_alive_s: int = _setting(5, "NUVYN_API_KEEP_ALIVE_S",
        "Idle keep-alive connections are closed after this many seconds.", ge=1)
    body_timeout_s: float = _setting(30.0, "NUVYN_API_BODY_TIMEOUT_S",
        "A request whose body has not fully arrived within this many seconds of its headers is answered 408 "
        "and its connection closed (also after an early answer such as 401).", gt=0)
    limit_concurrency: int = _setting(200, "NUVYN_API_LIMIT_CONCURRENCY",
        "Authenticated requests in progress at most; beyond, the server answers 503 at once. /health is always "
        "answered; idle and slow connections do not count (their timeouts close them).", ge=1)
    trusted_proxies: str | None = _setting(None, "NUVYN_API_TRUSTED_PROXIES",
        "Comma-separated IP addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto headers are believed. Unset: those headers are ignored from every client (the access "
        "log shows the connecting address).")
    allowed_hosts: str | None = _setting(None, "NUVYN_API_ALLOWED_HOSTS",
        "Comma-separated host names a request's Host header may name (port ignored; '*' allows any); any other "
        "gets 400 (DNS rebinding). Unset: any host with a token; without authentication (--no-auth) only "
        "localhost, 127.0.0.1, ::1 and the --host the server listens on.")

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, allow_no_auth: bool | None = None) -> ApiSettings:
        """The server's settings; `allow_no_auth` (serve --no-auth) overrides the environment. Checked."""
        values = env_values(cls, env)
        if "jobs_db" not in values:
            values["jobs_db"] = str(Path(Settings.from_env(env).warehouse_dir) / "_api" / "jobs.sqlite3")
        if allow_no_auth is not None:
            values["allow_no_auth"] = allow_no_auth
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        token = reveal(self.token)
        if token is None and not self.allow_no_auth:
            raise SettingsError(
                "NUVYN_API_TOKEN is not set: set it, or opt in to running without authentication with "
                "NUVYN_API_ALLOW_NO_AUTH=1 (or `serve --no-auth`)")
        if token is not None and len(token.strip()) < MIN_TOKEN_CHARS:
            raise SettingsError(f"NUVYN_API_TOKEN must be at least {MIN_TOKEN_CHARS} non-blank characters "
                                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)")
        if token is not None and token != token.strip():
            raise SettingsError("NUVYN_API_TOKEN must not start or end with whitespace")
        if self.launcher == "databricks" and self.databricks_job_id is None:
            raise SettingsError("NUVYN_API_LAUNCHER=databricks needs NUVYN_DATABRICKS_JOB_ID")
        self.proxy_networks()
        self.host_names()

    def proxy_networks(self) -> list[str]:
        """NUVYN_API_TRUSTED_PROXIES as a list of addresses/networks; SettingsError naming a bad entry."""
        import ipaddress

        entries = [e.strip() for e in (self.trusted_proxies or "").split(",") if e.strip()]
        for entry in entries:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise SettingsError(f"NUVYN_API_TRUSTED_PROXIES entry {entry!r} is not an IP address or network "
                                    "(e.g. 10.0.0.5 or 10.0.0.0/24)") from None
        return entries

    def host_names(self, bind_host: str | None = None) -> frozenset[str] | None:
        """The Host names requests may name (lower case, no port), or None when any is allowed:
        NUVYN_API_ALLOWED_HOSTS; unset, None with a token, else loopback names and `bind_host`."""
        if self.allowed_hosts is not None:
            names = {host_name(e) for e in self.allowed_hosts.split(",") if e.strip()}
            if not names or any(not n for n in names):
                raise SettingsError(f"NUVYN_API_ALLOWED_HOSTS={self.allowed_hosts!r} is invalid: comma-separated "
                                    "host names (e.g. api.example.com,localhost) or '*'")
            return None if "*" in names else frozenset(names)
        if self.token is not None:
            return None
        names = {"localhost", "127.0.0.1", "::1"}
        if bind_host and bind_host not in ("0.0.0.0", "::", ""):
            names.add(host_name(bind_host))
        return frozenset(names)


def host_name(text: str) -> str:
    """'Example.com:8080' -> 'example.com'; '[::1]:80' -> '::1'; '*' stays."""
    text = text.strip().lower()
    if text.startswith("["):
        return text[1:].split("]", 1)[0]
    if text.count(":") == 1:
        return text.split(":", 1)[0]
    return text


@dataclass(frozen=True)
class SourceGuardSettings(EnvSettings):
    """What a job started by the API's local launcher checks again before it reads: the launcher passes
    both variables to its children (executor.api.launchers.LocalLauncher.command)."""

    enforce_roots: bool = _setting(False, "NUVYN_JOB_ENFORCE_SOURCE_ROOTS",
        "Set by the API's local launcher for its jobs: the job checks its source again against "
        "NUVYN_API_SOURCE_ROOTS (unset: local and DBFS paths refused) and opens local files relative to the "
        "allowed root without following a link out of it, refusing files with more than one hard link.")
    source_roots: str | None = _setting(None, "NUVYN_API_SOURCE_ROOTS",
        "The roots the API accepted the source under (the server's own setting, passed to its jobs).")


@dataclass(frozen=True)
class FileModeSettings(EnvSettings):
    """Who may read the files a local run writes."""

    umask: str = _setting("077", "NUVYN_LOCAL_UMASK",
        "Local runs: umask of the files the job and its local Spark write (the Delta tables under "
        "NUVYN_WAREHOUSE_DIR or NUVYN_TABLES_LOCATION hold sample values): 077 = files 0600 and folders 0700, "
        "this user only; 027 lets the group read. Octal.")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not re.fullmatch(r"0?[0-7]{3}", self.umask):
            raise SettingsError(f"NUVYN_LOCAL_UMASK={self.umask!r} is not an octal umask such as 077 or 027")

    @property
    def mask(self) -> int:
        return int(self.umask, 8)


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "WARN", "ERROR", "CRITICAL")
JVM_LOG_LEVELS = ("ALL", "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF")


@dataclass(frozen=True)
class LogSettings(EnvSettings):
    """How the entry points log (executor.logging_setup): `--log-level` / `--log-format` win."""

    level: str = _setting("INFO", "NUVYN_LOG_LEVEL",
        "Level of the executor's own log lines (--log-level wins): DEBUG shows the resolved workflow_id "
        "and source_id.", choices=LOG_LEVELS)
    format: str = _setting("text", "NUVYN_LOG_FORMAT",
        "text, or json: one JSON object per line with run_id, workflow_id and source_id (--log-format "
        "wins).", choices=("text", "json"))
    spark_level: str | None = _setting(None, "NUVYN_SPARK_LOG_LEVEL",
        "Level of the local Spark JVM's log (log4j) and of `make submit`; unset: ERROR, or INFO when the "
        "executor logs at DEBUG. At WARN or ERROR Ivy's dependency report is dropped too.",
        choices=JVM_LOG_LEVELS)

    def __post_init__(self) -> None:
        for name in ("level", "spark_level"):  # case-insensitive, like logging and log4j
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, value.upper())
        super().__post_init__()


@dataclass(frozen=True)
class JobInputSettings(EnvSettings):
    """What the job reads besides its arguments (executor.payload.build_request: the precedence rule)."""

    payload: str | None = _setting(None, "NUVYN_JOB_PAYLOAD",
        "The job payload, a JSON object (README, Payload contract): the seed's way to give workflow_id and "
        "source_id. The --payload parameter wins when it is non-empty.")
    include: str | None = _setting(None, "NUVYN_INCLUDE",
        "Comma-separated globs: only files whose relative path or name matches, when neither a flag nor "
        "the payload gives include.")
    exclude: str | None = _setting(None, "NUVYN_EXCLUDE",
        "Comma-separated globs: files to skip, when neither a flag nor the payload gives exclude.")


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _machine_memory() -> int | None:
    """Bytes of memory this process may use: the machine's, or its cgroup's limit when lower."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(limit_file, encoding="ascii") as f:
                raw = f.read().strip()
        except OSError:
            continue
        if raw.isdigit():
            total = min(total, int(raw))
    return total


@dataclass(frozen=True)
class SandboxSettings(EnvSettings):
    """How native readers are isolated (see docs/ARCHITECTURE.md, "Native readers run isolated")."""

    isolation: bool = _setting(True, "NUVYN_READER_ISOLATION",
        "Decode Parquet, ORC and Avro contents in worker processes, so a file that crashes, hangs or "
        "eats memory in native code fails its table instead of the run (docs/ARCHITECTURE.md, \"Native "
        "readers run isolated\"). When no worker can start, the tables that need one fail saying so "
        "(CSV and JSON tables need none); false = decode in the job's own process (no protection; for "
        "debugging, or where processes cannot be started).")
    workers: int = _setting(0, "NUVYN_READER_WORKERS",
        "Worker processes (each holds pyarrow, about 80 MB resident when idle). 0 = the number of "
        "cores, at least 2 and at most 8.", ge=0)
    timeout_seconds: float = _setting(120.0, "NUVYN_READER_TIMEOUT_SECONDS",
        "A worker that spends longer than this on one file's read is killed and the file's table "
        "fails. Time spent waiting for storage (reads served by the job's process) does not count.",
        gt=0)
    memory_mb: int = _setting(0, "NUVYN_READER_MEMORY_MB",
        "A worker whose resident memory goes past this many MiB is killed and the file's table fails "
        "(watched from the job's process every 50 ms). 0 = half the machine's (or container's) "
        "memory shared among the workers, at least 1024 and at most 8192.", ge=0)

    def worker_count(self) -> int:
        return self.workers or max(2, min(8, cores()))

    def memory_bytes(self) -> int:
        if self.memory_mb:
            return self.memory_mb * MIB
        total = _machine_memory()
        share = total // 2 // self.worker_count() if total else 2048 * MIB
        return max(1024 * MIB, min(8192 * MIB, share))


SETTINGS_CLASSES: tuple[type[EnvSettings], ...] = (Settings, ReadSettings, ReadPoolSettings, ApiSettings,
                                                    SourceGuardSettings, FileModeSettings, LogSettings,
                                                    JobInputSettings, SandboxSettings)


def load_secrets(env: Mapping[str, str]) -> tuple[Secret, ...]:
    """Every secret set in `env` (each Secret field of SETTINGS_CLASSES), as Secret: built first thing
    by main, cli and the API server, so a secret is known to the redactor before any line is logged,
    also one that only a later part of the run (or no settings class of this process) reads."""
    names = sorted({f.metadata["env"] for cls in SETTINGS_CLASSES for f in _fields(cls)
                    if _kind(cls, f.type) == "Secret"})
    return tuple(Secret(env[n]) for n in names if env.get(n, "").strip())
