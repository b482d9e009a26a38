"""File formats the executor reads, recognised by extension. Pure."""

from __future__ import annotations

EXTENSIONS: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".parq": "parquet",
}
CSV_LIKE = ("csv", "tsv")
SUPPORTED_FORMATS = ("csv", "tsv", "parquet")


def detect_format(name: str) -> str | None:
    """The format of a file from its name, or None when it is not a supported data file."""
    lower = name.lower()
    dot = lower.rfind(".")
    if dot < 0:
        return None
    return EXTENSIONS.get(lower[dot:])


def default_delimiter(file_format: str) -> str | None:
    return "\t" if file_format == "tsv" else None
