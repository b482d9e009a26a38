"""Typed settings, read from the environment once, at the edge (main / context).

Every field has a description; `python -m executor.cli settings` prints them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from executor.errors import SettingsError
from executor.redaction import SECRETS

_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def on_databricks(env: Mapping[str, str] | None = None) -> bool:
    """True inside a Databricks runtime (the runtime sets DATABRICKS_RUNTIME_VERSION)."""
    env = os.environ if env is None else env
    return bool(env.get("DATABRICKS_RUNTIME_VERSION"))


def _doc(text: str, env: str) -> dict:
    return {"description": text, "env": env}


# How env_values reads a field, by its annotation (the modules use `from __future__ import annotations`)
_PARSERS: dict[str, Callable[[str], Any]] = {"int": int, "float": float, "str": str.strip, "str | None": str.strip}


def env_values(cls: type, env: Mapping[str, str]) -> dict[str, Any]:
    """Keyword arguments for the settings dataclass `cls` from the environment variables its fields
    name in their metadata ("env"): unset or blank variables are left out, text is stripped, int and
    float fields are parsed (else SettingsError naming the variable)."""
    values: dict[str, Any] = {}
    for f in fields(cls):
        raw = env.get(f.metadata["env"])
        if raw is None or raw.strip() == "":
            continue
        parse = _PARSERS.get(f.type if isinstance(f.type, str) else getattr(f.type, "__name__", ""))
        if parse is None:
            raise TypeError(f"{cls.__name__}.{f.name}: env_values cannot read a {f.type!r} field")
        try:
            values[f.name] = parse(raw)
        except ValueError:
            raise SettingsError(f"{f.metadata['env']}={raw!r} is not a number") from None
    return values


def describe_fields(cls: type) -> list[tuple[str, str, str]]:
    """(environment variable, default, description) of each field of a settings dataclass, for the docs."""
    return [(f.metadata["env"], repr(f.default), f.metadata["description"]) for f in fields(cls)]


_E = TypeVar("_E", bound="EnvSettings")


class EnvSettings:
    """Base of a settings dataclass whose fields name their environment variable and description in
    their metadata ({"env": ..., "description": ...}): from_env (env_values) and describe."""

    @classmethod
    def from_env(cls: type[_E], env: Mapping[str, str] | None = None) -> _E:
        return cls(**env_values(cls, os.environ if env is None else env))

    @classmethod
    def describe(cls) -> list[tuple[str, str, str]]:
        """(environment variable, default, description) for the docs."""
        return describe_fields(cls)


@dataclass(frozen=True)
class Settings:
    """Executor settings. Defaults suit a local run; on Databricks the catalog is hive_metastore."""

    catalog: str = field(
        default="spark_catalog",
        metadata=_doc(
            "Catalog of the metadata tables: hive_metastore on Databricks, spark_catalog locally.",
            "NUVYN_METADATA_CATALOG",
        ),
    )
    schema: str = field(
        default="_executor_metadata",
        metadata=_doc("Schema (database) that holds the four metadata tables.", "NUVYN_METADATA_SCHEMA"),
    )
    warehouse_dir: str = field(
        default=str(Path.home() / ".nuvyn" / "warehouse"),
        metadata=_doc(
            "Local runs only: root of the local Spark warehouse that holds the Delta tables.",
            "NUVYN_WAREHOUSE_DIR",
        ),
    )
    tables_location: str | None = field(
        default=None,
        metadata=_doc(
            "Where the Delta tables live. Unset on Databricks: managed tables. Locally it defaults to "
            "<warehouse>/<schema>.db so every process finds the same tables.",
            "NUVYN_TABLES_LOCATION",
        ),
    )
    spark_master: str = field(
        default="local[*]",
        metadata=_doc("Local runs only: Spark master URL.", "NUVYN_SPARK_MASTER"),
    )
    infer_sample_records: int = field(
        default=10000,
        metadata=_doc(
            "CSV: records per table given to Spark's schema inference (0 = every record, the slow "
            "full-scan path). Counts are always exact, whatever this bound.",
            "NUVYN_INFER_SAMPLE_RECORDS",
        ),
    )
    infer_sample_files: int = field(
        default=20,
        metadata=_doc("CSV: at most this many files per table feed the inference sample.", "NUVYN_INFER_SAMPLE_FILES"),
    )
    sample_value_max_chars: int = field(
        default=100,
        metadata=_doc("Each sample value is cut to this many characters.", "NUVYN_SAMPLE_VALUE_MAX_CHARS"),
    )
    sample_values_count: int = field(
        default=5,
        metadata=_doc("Distinct non-null sample values kept per column.", "NUVYN_SAMPLE_VALUES_COUNT"),
    )
    profile_max_rows: int = field(
        default=100000,
        metadata=_doc(
            "Column profiles (null_count, distinct_count, min_value, max_value) are computed over at most "
            "this many rows per table (the first rows of its first files): profile_scope says exact when "
            "they were all the table's rows, else sampled. Row counts are always exact.",
            "NUVYN_PROFILE_MAX_ROWS",
        ),
    )
    inference: str = field(
        default="fast",
        metadata=_doc(
            "fast = Spark's inference rules run in Python (executor/metadata/spark_types.py, checked "
            "against Spark in the tests; Spark itself is asked whenever a value is outside the ported "
            "rules); spark = ask Spark for every table (one or more Spark jobs per table).",
            "NUVYN_INFERENCE",
        ),
    )
    table_layout: str = field(
        default="cluster",
        metadata=_doc(
            "How the metadata tables are laid out for queries by workflow_id/source_id (Delta has no "
            "indexes): cluster = liquid clustering (CLUSTER BY), zorder = OPTIMIZE ... ZORDER BY when "
            "`nuvyn-executor migrate --optimize` runs, none.",
            "NUVYN_TABLE_LAYOUT",
        ),
    )
    io_threads: int = field(
        default=8,
        metadata=_doc("Threads that read file headers, footers and count CSV records.", "NUVYN_IO_THREADS"),
    )

    azure_connection_string: str | None = field(
        default=None,
        repr=False,
        metadata=_doc(
            "Azure sources: a storage connection string (AccountKey or SharedAccessSignature). Used when "
            "the path carries no SAS token. Secret: never logged.",
            "AZURE_STORAGE_CONNECTION_STRING",
        ),
    )
    azure_account_key: str | None = field(
        default=None,
        repr=False,
        metadata=_doc(
            "Azure sources: the storage account key, used when neither a SAS token nor a connection "
            "string is given. Secret: never logged.",
            "NUVYN_AZURE_ACCOUNT_KEY",
        ),
    )
    azure_key_secret_scope: str | None = field(
        default=None,
        metadata=_doc(
            "Azure sources on Databricks: secret scope holding the account key (with "
            "NUVYN_AZURE_KEY_SECRET_KEY); read with dbutils.secrets.get.",
            "NUVYN_AZURE_KEY_SECRET_SCOPE",
        ),
    )
    azure_key_secret_key: str | None = field(
        default=None,
        metadata=_doc("Azure sources on Databricks: key of the account key in the secret scope.",
                      "NUVYN_AZURE_KEY_SECRET_KEY"),
    )
    azure_emulator_hosts: str | None = field(
        default=None,
        metadata=_doc(
            "Azure sources: comma-separated host:port of storage emulators (Azurite) besides the BlobEndpoint "
            "of AZURE_STORAGE_CONNECTION_STRING. Any other http(s) host that is not <account>.blob or .dfs."
            "core.windows.net is refused before a connection is made.",
            "NUVYN_AZURE_EMULATOR_HOSTS",
        ),
    )
    azure_credential_accounts: str | None = field(
        default=None,
        metadata=_doc(
            "Azure sources: comma-separated storage accounts the server's own credential (account key, "
            "secret-scope key, DefaultAzureCredential) may be used for; required by `serve` for paths "
            "without a SAS token. A connection string serves only its own account.",
            "NUVYN_AZURE_CREDENTIAL_ACCOUNTS",
        ),
    )
    azure_spark_route: str = field(
        default="auto",
        metadata=_doc(
            "How Spark reads Azure files: abfss (Databricks and hadoop-azure; the production default), "
            "wasbs, staging (download each table's files to a local folder; the emulator's route), or "
            "auto (staging for the Azurite emulator, abfss otherwise).",
            "NUVYN_AZURE_SPARK_ROUTE",
        ),
    )
    azure_staging_dir: str | None = field(
        default=None,
        metadata=_doc("Staging route: local folder for staged files (default: a private temp folder).",
                      "NUVYN_AZURE_STAGING_DIR"),
    )
    azure_staging_max_bytes: int = field(
        default=8 * 1024**3,
        metadata=_doc(
            "Staging route: most bytes staged at once (one table's files); a larger table fails with a "
            "clear message.",
            "NUVYN_AZURE_STAGING_MAX_BYTES",
        ),
    )

    def __post_init__(self) -> None:
        SECRETS.add(self.azure_connection_string, self.azure_account_key)
        if self.azure_spark_route not in ("auto", "abfss", "wasbs", "staging"):
            raise SettingsError(
                f"NUVYN_AZURE_SPARK_ROUTE={self.azure_spark_route!r} must be auto, abfss, wasbs or staging"
            )
        for name in ("catalog", "schema"):
            value = getattr(self, name)
            if not _IDENT_RE.match(value):
                env = self.__dataclass_fields__[name].metadata["env"]
                raise SettingsError(
                    f"{env}={value!r} is not a valid identifier; use letters, digits and underscores"
                )
        if self.inference not in ("fast", "spark"):
            raise SettingsError(f"NUVYN_INFERENCE={self.inference!r} is invalid; expected one of: fast, spark")
        if self.table_layout not in ("cluster", "zorder", "none"):
            raise SettingsError(
                f"NUVYN_TABLE_LAYOUT={self.table_layout!r} is invalid; expected one of: cluster, zorder, none"
            )
        for name in ("infer_sample_records", "infer_sample_files", "sample_value_max_chars",
                     "sample_values_count", "io_threads", "azure_staging_max_bytes", "profile_max_rows"):
            value = getattr(self, name)
            minimum = 0 if name == "infer_sample_records" else 1
            if value < minimum:
                env = self.__dataclass_fields__[name].metadata["env"]
                raise SettingsError(f"{env}={value} must be >= {minimum}")

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
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        kwargs: dict = {}
        for f in fields(cls):
            name = f.metadata["env"]
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            if f.type in ("int",):
                try:
                    kwargs[f.name] = int(raw)
                except ValueError:
                    raise SettingsError(f"{name}={raw!r} is not an integer") from None
            else:
                kwargs[f.name] = raw
        if "catalog" not in kwargs and on_databricks(env):
            kwargs["catalog"] = "hive_metastore"
        return cls(**kwargs)

    @classmethod
    def describe(cls) -> list[tuple[str, str, str]]:
        """(environment variable, default, description) for the docs."""
        return describe_fields(cls)
