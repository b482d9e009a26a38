"""The formats the executor reads: one line per reader. Their order is the order formats are
listed in (data_source_type, error messages)."""

from __future__ import annotations

from executor.metadata.readers.avro import AvroReader
from executor.metadata.readers.base import Registry
from executor.metadata.readers.csv import CsvReader
from executor.metadata.readers.delta import DeltaReader
from executor.metadata.readers.json import JsonReader
from executor.metadata.readers.orc import OrcReader
from executor.metadata.readers.parquet import ParquetReader
from executor.metadata.readers.xml import XmlReader

READERS = Registry([
    CsvReader(),
    ParquetReader(),
    JsonReader(),
    AvroReader(),
    OrcReader(),
    DeltaReader(),
    XmlReader(),
])
