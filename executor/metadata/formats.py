"""File formats the executor reads: recognised by extension, else by their first bytes. Pure.

- Extensions: .csv, .tsv/.tab, .parquet/.pq/.parq, .json/.jsonl/.ndjson, .avro, .orc; CSV, TSV and
  JSON files may be compressed with gzip or bzip2 (`.csv.gz`, `.json.bz2`, `.tsv.gzip`, ...).
- A file without an extension is sniffed (`sniff_format`): `PAR1` (Parquet), `Obj\\x01` (Avro),
  `ORC` (ORC), gzip/bzip2 magic followed by one of the text formats, `{` or `[` (JSON), text
  whose first line splits on `,` `;` tab or `|` (CSV).
- A folder holding `_delta_log` is one Delta table (format `delta`, see grouping).
"""

from __future__ import annotations

import bz2
import gzip
from typing import BinaryIO

EXTENSIONS: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".parq": "parquet",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".avro": "avro",
    ".orc": "orc",
}
COMPRESSIONS: dict[str, str] = {".gz": "gzip", ".gzip": "gzip", ".bz2": "bzip2"}
CSV_LIKE = ("csv", "tsv")
TEXT_FORMATS = ("csv", "tsv", "json")  # the formats read through a streaming decompressor
SUPPORTED_FORMATS = ("csv", "tsv", "parquet", "json", "avro", "orc", "delta")
SNIFF_BYTES = 4096

_GZIP_MAGIC = b"\x1f\x8b"
_BZIP2_MAGIC = b"BZh"


def split_compression(name: str) -> tuple[str, str | None]:
    """(name without a compression suffix, 'gzip' | 'bzip2' | None)."""
    lower = name.lower()
    for ext, codec in COMPRESSIONS.items():
        if lower.endswith(ext) and len(name) > len(ext):
            return name[: -len(ext)], codec
    return name, None


def has_extension(name: str) -> bool:
    """True when the name (compression suffix removed) has a '.ext' part."""
    base, _codec = split_compression(name)
    dot = base.rfind(".")
    return dot > 0 and dot < len(base) - 1


def detect_format(name: str) -> str | None:
    """The format of a file from its name, or None when it is not a supported data file.
    A compression suffix is allowed only on the text formats (csv, tsv, json)."""
    base, codec = split_compression(name)
    lower = base.lower()
    dot = lower.rfind(".")
    if dot < 0:
        return None
    fmt = EXTENSIONS.get(lower[dot:])
    if codec is not None and fmt not in TEXT_FORMATS:
        return None
    return fmt


def compression_of(name: str) -> str | None:
    """'gzip', 'bzip2' or None, from the file name."""
    return split_compression(name)[1]


def sniff_compression(head: bytes) -> str | None:
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    if head.startswith(_BZIP2_MAGIC) and len(head) > 3 and head[3:4].isdigit():
        return "bzip2"
    return None


def sniff_format(head: bytes) -> str | None:
    """The format of a file from its first bytes (up to SNIFF_BYTES, already decompressed), or None."""
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"Obj\x01"):
        return "avro"
    if head.startswith(b"ORC"):
        return "orc"
    if not head or b"\x00" in head[:SNIFF_BYTES]:
        return None
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text[:1] in (b"{", b"["):
        return "json"
    try:
        decoded = text[:SNIFF_BYTES].decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        decoded = text[:SNIFF_BYTES].decode("iso-8859-1")
    if any(ord(c) < 32 and c not in "\r\n\t" for c in decoded):
        return None
    first = decoded.splitlines()[0] if decoded else ""
    if "\t" in first:
        return "tsv"
    if any(d in first for d in (",", ";", "|")):
        return "csv"
    return None


def open_decompressed(raw: BinaryIO, codec: str | None) -> BinaryIO:
    """A streaming, decompressing binary reader over `raw` (returned as is when codec is None).
    Bounded memory on any size; seek(0) rewinds (the decompressor restarts)."""
    if codec == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if codec == "bzip2":
        return bz2.BZ2File(raw, mode="rb")  # type: ignore[return-value]
    return raw


def sniff_file(raw: BinaryIO) -> tuple[str | None, str | None]:
    """(format, compression) of an open file without a usable extension."""
    head = raw.read(SNIFF_BYTES)
    codec = sniff_compression(head)
    if codec is not None:
        raw.seek(0)
        try:
            inner = open_decompressed(raw, codec).read(SNIFF_BYTES)
        except Exception:  # noqa: BLE001 - a broken stream is simply not a known format
            return None, None
        fmt = sniff_format(inner)
        return (fmt, codec) if fmt in TEXT_FORMATS else (None, None)
    return sniff_format(head), None


def default_delimiter(file_format: str) -> str | None:
    return "\t" if file_format == "tsv" else None
