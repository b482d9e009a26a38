"""XML as Spark reads it, ported: records split out of the text the way Spark's XmlInputFormat
splits them (Spark 4's built-in XML source and com.databricks:spark-xml 0.18 share the record
reader), each record parsed alone as StAX parses it (namespace-unaware: `x:name` keeps its prefix,
comments and processing instructions dropped, adjacent text and CDATA coalesced), and Spark's XML
schema inference (XmlInferSchema / spark-xml's InferSchema) over every record. Pure: no Spark.

Rules of the inference (the defaults of both implementations):
- a row is one `rowTag` element; its attributes are fields `_name`, its child elements fields;
- an element with only text is a primitive; with attributes too, a struct with `_VALUE` (the text)
  and its attributes; an element with child elements is a struct; an empty element is null;
- an element repeated in one record is an array; text around child elements (mixed content) is
  `_VALUE` (an array when it occurs more than once);
- values: bigint, double, boolean, date (yyyy-MM-dd), timestamp (Spark's default parser), else
  string; surrounding spaces ignored; types merge by Spark's rules (bigint+double = double, date +
  timestamp = timestamp, anything else = string; a struct with `_VALUE` absorbs a primitive);
- field names are compared case-insensitively (spark.sql.caseSensitive=false), the first spelling
  kept, fields sorted by name; null types become string; empty structs are dropped;
- a record that does not parse (an undefined entity, broken markup) is a row whose only value is
  `_corrupt_record` (PERMISSIVE), and adds `_corrupt_record string` to the schema.

Safety: every file is hostile. A record is parsed alone, so no DTD can precede it: entity
declarations, external entities and entity expansion cannot occur; the parser refuses them
anyway (the parser raises on a DOCTYPE, an entity declaration or an external reference, and
expands no parameter entities). Records are bounded in size (MAX_RECORD_CHARS)
and depth (MAX_DEPTH), the scan holds one record at a time.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import IO, Any, Protocol
from xml.etree.ElementTree import Element
from xml.parsers import expat

from executor.metadata.types.java_text import (  # the Java text rules shared with CSV inference
    is_timestamp as spark_is_timestamp,
)
from executor.metadata.types.java_text import java_parse_double, strict_iso_date

VALUE_TAG = "_VALUE"
ATTRIBUTE_PREFIX = "_"
CORRUPT_RECORD = "_corrupt_record"
MAX_RECORD_CHARS = 64 * 1024 * 1024  # one record larger than this fails the file
MAX_DEPTH = 200  # nested elements deeper than this fail the record (a corrupt record)
CHUNK_CHARS = 1 << 20
_MARKUP = re.compile(r"[<>]")

# Types: a str (bigint, double, boolean, date, timestamp, string, null) or
# ("array", element) or ("struct", ((name, type), ...)) sorted by name.
NULL, LONG, DOUBLE, BOOL, DATE, TS, STRING = "null", "bigint", "double", "boolean", "date", "timestamp", "string"
XmlType = Any
EMPTY_STRUCT: XmlType = ("struct", ())


class XmlScanError(ValueError):
    """The file cannot be scanned (a record too large)."""


# ---------------------------------------------------------------------- records (XmlInputFormat)

class TextSource(Protocol):
    def read(self, n: int = -1, /) -> str: ...


def iter_records(text: TextSource, row_tag: str) -> Iterator[str]:
    """The records of a text stream as Spark's XmlRecordReader finds them: from `<rowTag>` or
    `<rowTag` + whitespace to the matching `</rowTag>` (nested rowTags counted), or to `/>` when the
    start tag closes itself; a record cut off by the end of the file is returned as it is (it fails
    to parse: a corrupt record)."""
    start_tag, end_tag = f"<{row_tag}>", f"</{row_tag}>"
    buf, pos = "", 0

    def more() -> bool:
        nonlocal buf
        chunk = text.read(CHUNK_CHARS)
        if not chunk:
            return False
        buf += chunk
        return True

    while True:
        # readUntilStartElement: match start_tag, or its prefix + whitespace
        i = 0
        current = start_tag
        found = False
        while not found:
            if pos >= len(buf):
                buf, pos = "", 0
                if not more():
                    return
            if i == 0:
                nxt = buf.find("<", pos)
                if nxt < 0:
                    pos = len(buf)
                    continue
                pos = nxt
            c = buf[pos]
            pos += 1
            if c == start_tag[i]:
                if i >= len(start_tag) - 1:
                    found = True
                else:
                    i += 1
            else:
                if i == len(start_tag) - 1 and c.isspace():
                    current = start_tag[:-1] + c
                    found = True
                else:
                    i = 0
        buf, body, end = _read_until_end(buf, pos, start_tag, end_tag, current.endswith(">"), more_text=text)
        if end < 0:  # end of file inside the record: everything read is the record
            yield current + buf[body:]
            return
        yield current + buf[body:end]
        pos = end


def _read_until_end(buf: str, pos: int, start_tag: str, end_tag: str, start_closed: bool,
                    more_text: TextSource) -> tuple[str, int, int]:
    """readUntilEndElement from `pos`: (buffer, where the record's body starts in it, the index after
    the record's end or -1 at the end of the file). When more text is read, the buffer is the
    record's body so far plus the new text."""
    si = ei = depth = 0
    prev = "\0"
    can_self_close = not start_closed
    begin = pos
    while True:
        if pos >= len(buf):
            chunk = more_text.read(CHUNK_CHARS)
            if not chunk:
                return buf, begin, -1
            if len(buf) - begin > MAX_RECORD_CHARS:
                raise XmlScanError(f"a record is larger than {MAX_RECORD_CHARS} characters")
            buf = buf[begin:] + chunk
            pos -= begin
            begin = 0
        if si == 0 and ei == 0:  # nothing matched: only '<' (or '>' while it may self-close) changes the state
            m = _MARKUP.search(buf, pos) if can_self_close else None
            at = m.start() if m is not None else (buf.find("<", pos) if not can_self_close else -1)
            if at < 0:
                prev = buf[-1] if len(buf) > pos else prev
                pos = len(buf)
                continue
            if at > pos:
                prev = buf[at - 1]
            pos = at
            if not can_self_close and at + 1 < len(buf) and buf[at + 1] not in (start_tag[1], "/"):
                # '<' then a character that continues neither tag: both are read, nothing matched
                prev = buf[at + 1]
                pos = at + 2
                continue
        c = buf[pos]
        pos += 1
        if c == ">" and prev != "/":
            can_self_close = False
        if c == start_tag[si]:
            if c == end_tag[ei]:
                si += 1
                ei += 1
            elif si >= len(start_tag) - 1:
                si = ei = 0
                depth += 1
            else:
                si += 1
                ei = 0
        elif c == end_tag[ei]:
            if ei >= len(end_tag) - 1:
                if depth == 0:
                    return buf, begin, pos
                si = ei = 0
                depth -= 1
            else:
                si = 0
                ei += 1
        elif c == ">" and prev == "/" and can_self_close:
            if depth == 0:
                return buf, begin, pos
            si = ei = 0
            depth -= 1
        elif si == len(start_tag) - 1 and c.isspace():
            si = ei = 0
            depth += 1
        else:
            si = ei = 0
        prev = c


def text_stream(raw: IO[bytes]) -> IO[str]:
    """The file as Spark's InputStreamReader decodes it: UTF-8, bad bytes replaced, no newline
    translation."""
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")


# ---------------------------------------------------------------------- one record

class _Forbidden(ValueError):
    """A record that declares a DTD, entities or external references (never data)."""


def _forbid(*_args: object) -> None:
    raise _Forbidden("DTDs, entity declarations and external entities are not read")


def _forbid_external(*_args: object) -> int:
    raise _Forbidden("external entities are not read")


def parse_record(record: str) -> Element:
    """One record as a tree, parsed as StAX parses it for Spark: namespace-unaware (`ns:name` as
    it is written, `xmlns:ns` an ordinary attribute), comments and processing instructions dropped,
    text and CDATA coalesced. ExpatError or _Forbidden when it does not parse."""
    parser = expat.ParserCreate()  # no namespace separator: namespace-unaware
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _forbid
    parser.EntityDeclHandler = _forbid
    parser.UnparsedEntityDeclHandler = _forbid
    parser.ExternalEntityRefHandler = _forbid_external
    parser.buffer_text = True
    parser.ordered_attributes = False
    stack: list[Element] = []
    root: list[Element] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        if len(stack) >= MAX_DEPTH:
            raise _Forbidden(f"elements nested deeper than {MAX_DEPTH}")
        node = Element(name, attrs)
        if stack:
            stack[-1].append(node)
        else:
            root.append(node)
        stack.append(node)

    def end(name: str) -> None:
        stack.pop()

    def data(text: str) -> None:
        node = stack[-1] if stack else None
        if node is None:
            return
        if len(node):
            last = node[-1]
            last.tail = (last.tail or "") + text
        else:
            node.text = (node.text or "") + text

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    parser.Parse(record, True)
    return root[0]


PARSE_ERRORS = (expat.ExpatError, ValueError)


def _content(node: Element) -> list[str | Element]:
    """The element's content in order: its text pieces and child elements."""
    out: list[str | Element] = []
    if node.text is not None:
        out.append(node.text)
    for child in node:
        out.append(child)
        if child.tail is not None:
            out.append(child.tail)
    return out


# ---------------------------------------------------------------------- types

@dataclass(frozen=True)
class XmlRules:
    """Where the two XML readers differ (measured against them: tests/integration/test_xml_vs_spark.py).
    Spark 4 (built in): values trimmed (ignoreSurroundingSpaces=true), text around child elements
    is `_VALUE`, names compared case-insensitively. spark-xml 0.18 (Spark 3.5, Databricks Runtime):
    values as written, text around child elements ignored, a whitespace-only element is a string,
    an element with attributes always has `_VALUE`, names compared as written."""

    spark4: bool = True

    @classmethod
    def for_version(cls, spark_version: str) -> XmlRules:
        return cls(spark4=not spark_version.startswith("3."))

    def key(self, name: str) -> str:
        return name.lower() if self.spark4 else name


SPARK4 = XmlRules(True)


@lru_cache(maxsize=65536)
def infer_value(value: str | None, rules: XmlRules = SPARK4) -> XmlType:
    """The type of one text value (blank is null); values repeat, so the answers are cached."""
    if value is None:
        return NULL
    v = value.strip() if rules.spark4 else value
    if not v:
        return NULL
    unsigned = v[1:] if v[:1] in "+-" else v
    if unsigned[:1].isdigit() and _java_long(unsigned):
        return LONG
    if (unsigned[:1].isdigit() or unsigned[:1] == ".") and unsigned[-1:] not in "dDfF" \
            and java_parse_double(unsigned):
        return DOUBLE
    if v.lower() in ("true", "false"):
        return BOOL
    if strict_iso_date(v):
        return DATE
    if spark_is_timestamp(v) if rules.spark4 else _spark_xml_timestamp(v):
        return TS
    return STRING


_SPARK_XML_TS = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})([ T])([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.[0-9]{1,9})?)?"
                           r"(Z|[+-][0-9]{2}:[0-9]{2}(?::[0-9]{2})?)?\Z")


def _spark_xml_timestamp(v: str) -> bool:
    """spark-xml's timestamp without timestampFormat: one of java.time's ISO formatters
    (yyyy-MM-dd HH:mm[:ss[.n]], ISO_LOCAL_DATE_TIME, ISO_OFFSET_DATE_TIME, ISO_INSTANT)."""
    m = _SPARK_XML_TS.match(v)
    if m is None:
        return False
    y, mo, d, sep, h, mi, sec, zone = m.groups()
    if sep == " " and zone is not None:  # the space form has no zone
        return False
    try:
        datetime_check = (int(h) < 24 and int(mi) < 60 and int(sec or 0) < 60)
        return datetime_check and date(int(y), int(mo), int(d)) is not None
    except ValueError:
        return False


def _java_long(s: str) -> bool:
    """Scala's String.toLong on a value without a sign (java.lang.Long.parseLong)."""
    if not s or not all("0" <= ch <= "9" for ch in s):
        return False
    return int(s) <= 2**63 - 1


_NUMERIC = (LONG, DOUBLE)


def _is(t: XmlType, kind: str) -> bool:
    return isinstance(t, tuple) and t[0] == kind


def compatible(t1: XmlType, t2: XmlType, rules: XmlRules = SPARK4) -> XmlType:
    """Spark's XML compatibleType."""
    if t1 == t2:
        return t1
    if t1 in _NUMERIC and t2 in _NUMERIC:
        return DOUBLE
    if rules.spark4 and isinstance(t1, str) and isinstance(t2, str) and {t1, t2} == {DATE, TS}:
        return TS  # Spark 4 widens date and timestamp; spark-xml has no rule for them (string)
    if _is(t1, "struct") and _is(t2, "struct"):
        return merge_structs(t1, t2, rules)
    if _is(t1, "array") and _is(t2, "array"):
        return ("array", compatible(t1[1], t2[1], rules))
    if _is(t1, "array"):
        return ("array", compatible(t1[1], t2, rules))
    if _is(t2, "array"):
        return ("array", compatible(t1, t2[1], rules))
    if _is(t1, "struct") and _has_value(t1):
        return _with_value(t1, t2, True, rules)
    if _is(t2, "struct") and _has_value(t2):
        return _with_value(t2, t1, False, rules)
    if t2 == NULL:
        return t1
    if t1 == NULL:
        return t2
    return STRING


def _has_value(st: XmlType) -> bool:
    return any(n == VALUE_TAG for n, _ in st[1])


def _with_value(st: XmlType, other: XmlType, first: bool, rules: XmlRules) -> XmlType:
    fields = tuple((n, (compatible(t, other, rules) if first else compatible(other, t, rules))
                    if n == VALUE_TAG else t) for n, t in st[1])
    return ("struct", fields)


def merge_structs(t1: XmlType, t2: XmlType, rules: XmlRules = SPARK4) -> XmlType:
    merged: dict[str, tuple[str, XmlType]] = {}
    for name, t in list(t1[1]) + list(t2[1]):
        k = rules.key(name)
        if k in merged:
            merged[k] = (merged[k][0], compatible(merged[k][1], t, rules))
        else:
            merged[k] = (name, t)
    return ("struct", tuple(sorted(merged.values(), key=lambda f: f[0])))


class _Fields:
    """nameToDataType: a name seen twice in one element is an array."""

    def __init__(self, rules: XmlRules) -> None:
        self.rules = rules
        self.fields: dict[str, tuple[str, XmlType]] = {}

    def add(self, name: str, t: XmlType) -> None:
        k = self.rules.key(name)
        if k not in self.fields:
            self.fields[k] = (name, t)
            return
        first, old = self.fields[k]
        if _is(old, "array") and self.rules.spark4:
            self.fields[k] = (first, compatible(old, t, self.rules))
        else:
            self.fields[k] = (first, ("array", compatible(old[1] if _is(old, "array") else old, t, self.rules)))

    def struct(self) -> XmlType:
        return ("struct", tuple(sorted(self.fields.values(), key=lambda f: f[0])))


def _attributes(node: Element, rules: XmlRules = SPARK4) -> list[tuple[str, str | None]]:
    """(field name, value) of an element's attributes; Spark 4 trims them and reads blanks as null."""
    out = []
    for name, value in node.attrib.items():
        v = value.strip() if rules.spark4 else value
        out.append((ATTRIBUTE_PREFIX + name, v if v.strip() or not rules.spark4 else None))
    return out


def infer_object(node: Element, rules: XmlRules = SPARK4, attributes: bool = True,
                 content: list[str | Element] | None = None) -> XmlType:
    """The struct type of an element's attributes and content (inferObject)."""
    fields = _Fields(rules)
    if attributes:
        for name, value in _attributes(node, rules):
            fields.add(name, infer_value(value, rules))
    for item in _content(node) if content is None else content:
        if isinstance(item, str):
            if item.strip() and rules.spark4:  # spark-xml ignores text next to elements
                fields.add(VALUE_TAG, infer_value(item, rules))
            continue
        attrs = _attributes(item, rules)
        t = infer_field(item, rules)
        if attrs:
            extra = [(n, infer_value(v, rules)) for n, v in attrs]
            if _is(t, "struct"):
                t = ("struct", tuple(sorted(list(t[1]) + extra, key=lambda f: f[0])))
            else:
                base = [] if t == NULL and rules.spark4 else [(VALUE_TAG, t)]
                t = ("struct", tuple(sorted(base + extra, key=lambda f: f[0])))
        fields.add(item.tag, t)
    return fields.struct()


def infer_field(node: Element, rules: XmlRules = SPARK4) -> XmlType:
    """The type of a child element's content (inferField)."""
    if node.text is None and len(node) == 0:
        return NULL
    if not rules.spark4:
        return _infer_field_spark_xml(node, rules)
    st = infer_object(node, rules, attributes=False)
    if not st[1]:
        return NULL
    if len(st[1]) == 1 and st[1][0][0] == VALUE_TAG and isinstance(st[1][0][1], str):
        return st[1][0][1]
    return st


def _infer_field_spark_xml(node: Element, rules: XmlRules) -> XmlType:
    """spark-xml's inferField: the first text decides unless elements follow it."""
    content = _content(node)
    first = content[0]
    if not isinstance(first, str):
        return infer_object(node, rules, attributes=False, content=content)
    rest = content[1:]
    if not first.strip():  # whitespace
        if not rest:
            return NULL if first == "" else STRING
        return infer_object(node, rules, attributes=False, content=rest)
    if rest:  # text, then elements: the text is ignored
        return infer_object(node, rules, attributes=False, content=rest)
    return infer_value(first, rules)


def infer_record(root: Element, rules: XmlRules = SPARK4) -> XmlType:
    return infer_object(root, rules)


def canonical(t: XmlType) -> XmlType | None:
    """Null types become string; empty structs (and arrays of them) disappear."""
    if t == NULL:
        return STRING
    if isinstance(t, str):
        return t
    if t[0] == "array":
        inner = canonical(t[1])
        return None if inner is None else ("array", inner)
    fields = tuple((n, c) for n, ft in t[1] if n and (c := canonical(ft)) is not None)
    return ("struct", fields) if fields else None


def duplicate_name(t: XmlType) -> str | None:
    """A field name that occurs twice in one struct when compared case-insensitively (spark-xml keeps
    `Code` and `code` apart; Spark then refuses the schema: COLUMN_ALREADY_EXISTS), else None."""
    if isinstance(t, str):
        return None
    if t[0] == "array":
        return duplicate_name(t[1])
    seen: set[str] = set()
    for name, _ft in t[1]:
        key = str(name).lower()
        if key in seen:
            return key
        seen.add(key)
    return next((d for _, ft in t[1] if (d := duplicate_name(ft)) is not None), None)


def type_string(t: XmlType) -> str:
    """Spark's simpleString of a type."""
    if isinstance(t, str):
        return t
    if t[0] == "array":
        return f"array<{type_string(t[1])}>"
    return "struct<" + ",".join(f"{n}:{type_string(ft)}" for n, ft in t[1]) + ">"


def root_columns(root: XmlType) -> list[tuple[str, str]]:
    """The table's columns (name, Spark type string) from the merged root type."""
    c = canonical(root)
    if c is None:
        return []
    return [(n, type_string(t)) for n, t in c[1]]


# ---------------------------------------------------------------------- values (samples, profiles)

def record_values(root: Element) -> dict[str, Any]:
    """A record's top-level values as Python values: text, dicts for structs, lists for repeats."""
    return _object_values(root, attributes=True)


def _object_values(node: Element, attributes: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def put(name: str, value: Any) -> None:
        k = next((n for n in out if n.lower() == name.lower()), name)
        if k in out:
            old = out[k]
            out[k] = (old if isinstance(old, list) else [old]) + [value]
        else:
            out[k] = value

    if attributes:
        for name, value in _attributes(node):
            put(name, value)
    for item in _content(node):
        if isinstance(item, str):
            if item.strip():
                put(VALUE_TAG, item.strip())
            continue
        child: Any
        if len(item) == 0 and not item.attrib:
            child = (item.text or "").strip() or None
        else:
            inner = _object_values(item, attributes=True)
            child = inner.get(VALUE_TAG) if list(inner) == [VALUE_TAG] else (inner or None)
        put(item.tag, child)
    return out


def conform(value: Any, t: XmlType) -> Any:
    """A record's value as a column of type `t` holds it (as Spark shows the row): numbers and
    booleans typed, a lone repeated element as a one-element list, a bare text in a struct with
    `_VALUE` as that field, fields in the schema's order."""
    if value is None:
        return None
    if isinstance(t, str):
        if isinstance(value, (dict, list)):
            return value if t == STRING else None
        return typed(value, t)
    if t[0] == "array":
        return [conform(v, t[1]) for v in (value if isinstance(value, list) else [value])]
    if isinstance(value, list):
        return None  # repeated where the schema has one (Spark reads null)
    if not isinstance(value, dict):
        value = {VALUE_TAG: value}
    return {n: conform(value[n], ft) for n, ft in t[1] if n in value}


def conform_row(row: dict[str, Any], root: XmlType) -> dict[str, Any]:
    """One sampled row conformed to the table's merged (canonical) root type."""
    if not _is(root, "struct"):
        return row
    by_key = {k.lower(): v for k, v in row.items()}  # Spark 4 merges names case-insensitively
    return {n: conform(row[n] if n in row else by_key[n.lower()], ft) for n, ft in root[1]
            if n in row or n.lower() in by_key}


def typed(value: Any, type_text: str) -> Any:
    """A top-level text value as the column's type reads it (numbers and booleans), else as it is."""
    if not isinstance(value, str):
        return value
    try:
        if type_text == LONG:
            return int(value)
        if type_text == DOUBLE:
            return float(value)
    except ValueError:
        return None
    if type_text == BOOL:
        return value.lower() == "true"
    return value


# ---------------------------------------------------------------------- one file

@dataclass
class XmlScan:
    """One file read through: its records, corrupt ones, the merged type and the first rows."""

    rows: int = 0
    corrupt: int = 0
    root: XmlType = field(default_factory=lambda: EMPTY_STRUCT)
    sample: list[dict[str, Any]] = field(default_factory=list)
    sampled: bool = True  # False: restored from a record (incremental): `sample` was not kept


def scan_xml(text: TextSource, row_tag: str, sample_rows: int = 0, rules: XmlRules = SPARK4,
             sample_only: bool = False) -> XmlScan:
    """Every record of the file: counted, parsed alone, inferred; the first `sample_rows` kept.
    `sample_only`: stop once the sample is full (the counts and type are then those of the records read)."""
    scan = XmlScan()
    for record in iter_records(text, row_tag):
        if sample_only and len(scan.sample) >= sample_rows:
            break
        scan.rows += 1
        try:
            root = parse_record(record)
        except PARSE_ERRORS:
            scan.corrupt += 1
            scan.root = compatible(scan.root, ("struct", ((CORRUPT_RECORD, STRING),)), rules)
            if len(scan.sample) < sample_rows:
                scan.sample.append({CORRUPT_RECORD: record})
            continue
        scan.root = compatible(scan.root, infer_record(root, rules), rules)
        if len(scan.sample) < sample_rows:
            scan.sample.append(record_values(root))
    return scan
