"""The formats the executor reads, by name only: each format's name, file extensions, whether its
gzip/bzip2 files are read, and the schema of its options (the payload's `format_options`). Pure:
no reader, no numpy, no pyarrow, no Spark. The payload, the API's models, `--help` and the docs
read this list; the readers registry (executor/metadata/readers/registry.py) must agree with it
(Registry.register checks, tests/unit/test_formats.py compares both).

Adding a format: one FormatSpec line here (its options included), one reader file, one line in
the registry (docs/ARCHITECTURE.md, "Adding a format", shown on XML).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from executor.errors import PayloadError

OptionKind = Literal["bool", "choice", "name"]
OptionValue = str | bool

# An XML element name as Spark's rowTag matches it (prefix:local allowed, no spaces or markup).
_XML_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9._:\-]{0,199}\Z")


@dataclass(frozen=True)
class FormatOption:
    """One option of a format, named as Spark's reader option (`header`, `rowTag`)."""

    name: str
    kind: OptionKind
    help: str
    choices: tuple[str, ...] = ()  # kind choice: the accepted values (lower case)
    default: OptionValue | None = None  # None: not set unless given

    def rule(self) -> str:
        if self.kind == "bool":
            return "true or false"
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        return "an XML element name (letters, digits and . _ : -, starting with a letter or _)"

    def parse(self, value: object, where: str) -> OptionValue:
        """The option's value from JSON or a CLI string; PayloadError naming `where` when invalid."""
        shown = str(value)[:40]
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in ("true", "false"):
                return value.strip().lower() == "true"
        elif self.kind == "choice":
            if isinstance(value, bool) and {"true", "false"} <= set(self.choices):
                return "true" if value else "false"
            if isinstance(value, str) and value.strip().lower() in self.choices:
                return value.strip().lower()
        elif isinstance(value, str) and _XML_NAME.match(value.strip()):
            return value.strip()
        raise PayloadError(f"{where} {shown!r} is invalid; expected {self.rule()} ({self.help})")


@dataclass(frozen=True)
class FormatSpec:
    """One format by name: what the payload, the API and the docs need to know of it."""

    name: str  # as in data_source_type and tables.file_type
    extensions: tuple[str, ...]  # '.ext' (lower case), without compression suffixes
    compressible: bool  # .gz / .bz2 files of it are read
    description: str
    options: tuple[FormatOption, ...] = ()
    options_from: str | None = None  # a format whose options apply unless this one's are given

    def option(self, name: str) -> FormatOption | None:
        return next((o for o in self.options if o.name == name), None)


CSV_HEADER = FormatOption("header", "choice", "auto: the header rule; true or false: for every file",
                          choices=("auto", "true", "false"), default="auto")
XML_ROW_TAG = FormatOption("rowTag", "name", "the element that is one row, as Spark's rowTag option; required "
                           "to read XML")

FORMATS: tuple[FormatSpec, ...] = (
    FormatSpec("csv", (".csv",), True, "comma (or sniffed) separated text", (CSV_HEADER,)),
    FormatSpec("tsv", (".tsv", ".tab"), True, "tab separated text", (CSV_HEADER,), options_from="csv"),
    FormatSpec("parquet", (".parquet", ".pq", ".parq"), False, "Apache Parquet"),
    FormatSpec("json", (".json", ".jsonl", ".ndjson"), True, "JSON lines or JSON arrays"),
    FormatSpec("avro", (".avro",), False, "Avro object container files"),
    FormatSpec("orc", (".orc",), False, "Apache ORC"),
    FormatSpec("delta", (), False, "Delta tables (a folder with _delta_log)"),
    FormatSpec("xml", (".xml",), True, "XML, one row per rowTag element (format_options.xml.rowTag)",
               (XML_ROW_TAG,)),
)
FORMAT_NAMES: tuple[str, ...] = tuple(f.name for f in FORMATS)
FORMAT_OPTIONS_FIELD = "format_options"

# One format's validated options: option name -> value (only the options given).
FormatOptions = Mapping[str, Mapping[str, OptionValue]]


def format_spec(name: str) -> FormatSpec | None:
    return next((f for f in FORMATS if f.name == name), None)


def _formats_with_options() -> str:
    return ", ".join(f"{f.name} ({', '.join(o.name for o in f.options)})" for f in FORMATS if f.options)


def parse_format_options(value: object, where: str = FORMAT_OPTIONS_FIELD) -> dict[str, dict[str, OptionValue]]:
    """The payload's format_options (format name -> {option: value}) validated against each format's
    option schema. Option names are matched as Spark matches them (case-insensitively) and kept in
    the schema's spelling. Raises PayloadError naming the field (e.g. format_options.xml.rowTag)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise PayloadError(f"{where} must be a JSON object: format name -> options, such as "
                           '{"xml": {"rowTag": "record"}}')
    out: dict[str, dict[str, OptionValue]] = {}
    for fmt, options in value.items():
        spec = format_spec(str(fmt).strip().lower())
        if spec is None or not spec.options:
            raise PayloadError(f"{where}.{str(fmt)[:40]} is not a format with options; formats with options: "
                               f"{_formats_with_options()}")
        if options is None:
            continue
        if not isinstance(options, Mapping):
            raise PayloadError(f"{where}.{spec.name} must be a JSON object: option -> value")
        parsed = out.setdefault(spec.name, {})
        for key, raw in options.items():
            option = next((o for o in spec.options if o.name.lower() == str(key).strip().lower()), None)
            if option is None:
                raise PayloadError(f"{where}.{spec.name}.{str(key)[:40]} is not an option of {spec.name}; "
                                   f"expected one of: {', '.join(o.name for o in spec.options)}")
            if raw is None:
                continue
            parsed[option.name] = option.parse(raw, f"{where}.{spec.name}.{option.name}")
    return {k: v for k, v in out.items() if v}


def parse_format_option_flag(text: str) -> dict[str, dict[str, OptionValue]]:
    """One `--format-option FORMAT.OPTION=VALUE` (csv.header=true, xml.rowTag=record), validated."""
    key, sep, raw = text.partition("=")
    fmt, dot, name = key.strip().partition(".")
    if not sep or not dot or not fmt or not name:
        raise PayloadError(f"--format-option {text[:60]!r} is invalid; expected FORMAT.OPTION=VALUE such as "
                           "csv.header=true or xml.rowTag=record")
    return parse_format_options({fmt: {name: raw}})


def merge_format_options(*levels: FormatOptions) -> dict[str, dict[str, OptionValue]]:
    """Per (format, option), the first level that gives it wins (levels highest first)."""
    out: dict[str, dict[str, OptionValue]] = {}
    for level in reversed(levels):
        for fmt, options in level.items():
            out.setdefault(fmt, {}).update(options)
    return out
