"""Spark's data types as values: atomic types, decimals, arrays, maps and structs.

`simple_string()` prints a type exactly as Spark's ``DataType.simpleString()`` does (PySpark's
for structs: every field, never truncated), which is what ``columns.data_type`` stores:
``int``, ``bigint``, ``decimal(20,0)``, ``array<struct<a:int>>``, ``map<string,bigint>``.
:func:`parse_type` reads such a string back (and the DDL spellings of the same types);
:func:`from_json` reads Spark's JSON form of a type (``DataType.json``, Delta's schemaString).

Types are immutable and compare by structure, nullability flags included (as Spark's case
classes do); the flags are not printed by simpleString. Atomic types are interned
(``AtomicType("int") is INT``: comparing them is an identity check); arrays and structs keep
their hash, so a struct is hashed once however often it is compared.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, NoReturn, final

__all__ = [
    "BINARY", "BOOLEAN", "BYTE", "DATE", "DATETIME", "DOUBLE", "FLOAT", "INT", "INTEGRAL", "LONG",
    "MAX_PRECISION", "NULL", "NUMERIC_PRECEDENCE", "SHORT", "STRING", "TIMESTAMP", "TIMESTAMP_NTZ",
    "ArrayType", "AtomicType", "DecimalType", "MapType", "SparkType", "StructField", "StructType",
    "from_json", "integral_decimal", "parse_type",
]

MAX_PRECISION = 38  # DecimalType.MAX_PRECISION


class SparkType(ABC):
    """A Spark data type; str(t) is t.simple_string()."""

    __slots__ = ()

    @abstractmethod
    def simple_string(self) -> str:
        """The type as Spark's ``DataType.simpleString()`` prints it."""

    def __str__(self) -> str:
        return self.simple_string()


@final
class AtomicType(SparkType):
    """A type without parameters, named as simpleString prints it (``int``, ``bigint``,
    ``string``, ``void`` ...). Types the rules never reason about (``char(10)``, ``interval day``,
    ``variant``) are atomic too, kept by their printed name. Interned: one object per name, so
    equality is identity."""

    __slots__ = ("name",)
    _interned: ClassVar[dict[str, AtomicType]] = {}
    name: str

    def __new__(cls, name: str) -> AtomicType:
        t = cls._interned.get(name)
        if t is None:
            t = super().__new__(cls)
            object.__setattr__(t, "name", name)
            t = cls._interned.setdefault(name, t)
        return t

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError(f"AtomicType is immutable (set {key})")

    def __reduce__(self) -> tuple[type[AtomicType], tuple[str]]:
        return AtomicType, (self.name,)

    def __copy__(self) -> AtomicType:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> AtomicType:
        return self

    def __repr__(self) -> str:
        return f"AtomicType({self.name!r})"

    def simple_string(self) -> str:
        return self.name


NULL = AtomicType("void")  # NullType
BOOLEAN = AtomicType("boolean")
BYTE = AtomicType("tinyint")
SHORT = AtomicType("smallint")
INT = AtomicType("int")
LONG = AtomicType("bigint")
FLOAT = AtomicType("float")
DOUBLE = AtomicType("double")
STRING = AtomicType("string")
BINARY = AtomicType("binary")
DATE = AtomicType("date")
TIMESTAMP = AtomicType("timestamp")  # TIMESTAMP_LTZ
TIMESTAMP_NTZ = AtomicType("timestamp_ntz")

INTEGRAL = (BYTE, SHORT, INT, LONG)  # IntegralType
NUMERIC_PRECEDENCE = (BYTE, SHORT, INT, LONG, FLOAT, DOUBLE)  # TypeCoercion.numericPrecedence
DATETIME = (DATE, TIMESTAMP, TIMESTAMP_NTZ)  # DatetimeType


@dataclass(frozen=True, slots=True)
class DecimalType(SparkType):
    """decimal(precision, scale), with Spark's limits: 0 <= scale <= precision <= 38."""

    precision: int
    scale: int

    def __post_init__(self) -> None:
        if not 0 <= self.scale <= self.precision <= MAX_PRECISION:
            raise ValueError(f"decimal({self.precision},{self.scale}): Spark needs 0 <= scale <= precision <= "
                             f"{MAX_PRECISION}")

    def simple_string(self) -> str:
        return f"decimal({self.precision},{self.scale})"

    @staticmethod
    def bounded(precision: int, scale: int) -> DecimalType:
        """DecimalType.bounded: precision and scale capped at 38."""
        return DecimalType(min(precision, MAX_PRECISION), min(scale, MAX_PRECISION))

    @staticmethod
    def bounded_prefer_integral_digits(precision: int, scale: int) -> DecimalType:
        """DecimalType.boundedPreferIntegralDigits (Spark 4.0): above 38 digits, fraction digits are
        dropped first, so the integral digits are kept."""
        if precision <= MAX_PRECISION:
            return DecimalType(precision, scale)
        return DecimalType(MAX_PRECISION, max(0, scale - (precision - MAX_PRECISION)))

    def is_wider_than(self, other: SparkType) -> bool:
        """DecimalType.isWiderThan: every value of `other` (a decimal or an integral type) fits."""
        d = other if isinstance(other, DecimalType) else integral_decimal(other)
        if d is None:
            return False
        return self.precision - self.scale >= d.precision - d.scale and self.scale >= d.scale


_INTEGRAL_DECIMAL = {BYTE: DecimalType(3, 0), SHORT: DecimalType(5, 0), INT: DecimalType(10, 0),
                     LONG: DecimalType(20, 0)}


def integral_decimal(t: SparkType) -> DecimalType | None:
    """DecimalType.forType of an integral type (tinyint -> decimal(3,0) ... bigint -> decimal(20,0));
    None for any other type."""
    return _INTEGRAL_DECIMAL.get(t) if isinstance(t, AtomicType) else None


@dataclass(frozen=True, slots=True, eq=False)
class ArrayType(SparkType):
    element: SparkType
    contains_null: bool = True
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((ArrayType, self.element, self.contains_null)))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, ArrayType):
            return NotImplemented
        return (self._hash == other._hash and self.contains_null == other.contains_null
                and self.element == other.element)

    def simple_string(self) -> str:
        return f"array<{self.element.simple_string()}>"


@dataclass(frozen=True, slots=True)
class MapType(SparkType):
    key: SparkType
    value: SparkType
    value_contains_null: bool = True

    def simple_string(self) -> str:
        return f"map<{self.key.simple_string()},{self.value.simple_string()}>"


@dataclass(frozen=True, slots=True)
class StructField:
    name: str
    data_type: SparkType
    nullable: bool = True

    def simple_string(self) -> str:
        return f"{self.name}:{self.data_type.simple_string()}"


@dataclass(frozen=True, slots=True, eq=False)
class StructType(SparkType):
    fields: tuple[StructField, ...] = ()
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((StructType, self.fields)))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, StructType):
            return NotImplemented
        return self._hash == other._hash and self.fields == other.fields

    @staticmethod
    def of(pairs: Iterable[tuple[str, SparkType]]) -> StructType:
        """A struct of nullable fields from (name, type) pairs, in order."""
        return StructType(tuple(StructField(n, t) for n, t in pairs))

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def simple_string(self) -> str:
        return "struct<" + ",".join(f.simple_string() for f in self.fields) + ">"


# ------------------------------------------------------------------------------ reading types

# DDL and JSON spellings of the atomic types (lower case) -> the type
_NAMES = {
    "boolean": BOOLEAN, "tinyint": BYTE, "byte": BYTE, "smallint": SHORT, "short": SHORT, "int": INT,
    "integer": INT, "bigint": LONG, "long": LONG, "float": FLOAT, "real": FLOAT, "double": DOUBLE,
    "string": STRING, "binary": BINARY, "date": DATE, "timestamp": TIMESTAMP, "timestamp_ltz": TIMESTAMP,
    "timestamp_ntz": TIMESTAMP_NTZ, "void": NULL,
}
# an atomic type's name: words (interval day to second, string collate UTF8_LCASE), maybe arguments
_ATOMIC_NAME = re.compile(r"\s*[A-Za-z_][\w ]*(?:\([\w ,]*\))?\s*\Z")
_COMPLEX = re.compile(r"(array|map|struct)\s*<", re.IGNORECASE)
_DECIMAL = re.compile(r"\s*(?:decimal|dec|numeric)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*\Z", re.IGNORECASE)


def _atomic(name: str) -> SparkType:
    m = _DECIMAL.match(name)
    if m:  # DDL: decimal = decimal(10,0), decimal(p) = decimal(p,0)
        return DecimalType(int(m.group(1) or 10), int(m.group(2) or 0))
    stripped = name.strip()
    return _NAMES.get(stripped.lower()) or AtomicType(stripped)


class _Parser:
    """Recursive descent over a simpleString / DDL type. Struct field names are taken verbatim up
    to their ':' (simpleString does not quote them), or between backquotes (``a:b``)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> NoReturn:
        raise ValueError(f"not a Spark type: {self.text!r} ({what} at character {self.pos})")

    def skip_blanks(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def expect(self, ch: str) -> None:
        self.skip_blanks()
        if not self.text.startswith(ch, self.pos):
            self.fail(f"expected {ch!r}")
        self.pos += 1

    def peek(self, ch: str) -> bool:
        """The next character that is not blank is `ch` (nothing consumed)."""
        i = self.pos
        while i < len(self.text) and self.text[i].isspace():
            i += 1
        return self.text.startswith(ch, i)

    def take(self, ch: str) -> bool:
        """Consume `ch` (and the blanks before it) when it comes next."""
        if not self.peek(ch):
            return False
        self.expect(ch)
        return True

    def parse(self) -> SparkType:
        self.skip_blanks()
        m = _COMPLEX.match(self.text, self.pos)
        if m is None:
            return self.atomic()
        self.pos = m.end()
        kind = m.group(1).lower()
        if kind == "array":
            element = self.parse()
            self.expect(">")
            return ArrayType(element)
        if kind == "map":
            key = self.parse()
            self.expect(",")
            value = self.parse()
            self.expect(">")
            return MapType(key, value)
        fields: list[StructField] = []
        if not self.peek(">"):
            fields.append(self.field())
            while self.take(","):
                fields.append(self.field())
        self.expect(">")
        return StructType(tuple(fields))

    def field(self) -> StructField:
        if self.peek("`"):
            self.skip_blanks()
            end = self.pos + 1
            name = []
            while True:
                close = self.text.find("`", end)
                if close < 0:
                    self.fail("unclosed `")
                name.append(self.text[end:close])
                if not self.text.startswith("``", close):
                    break
                name.append("`")
                end = close + 2
            self.pos = close + 1
            self.expect(":")
            return StructField("".join(name), self.parse())
        colon = self.text.find(":", self.pos)
        if colon < 0:
            self.fail("expected name:type")
        name_text = self.text[self.pos:colon]
        self.pos = colon + 1
        return StructField(name_text, self.parse())

    def atomic(self) -> SparkType:
        start = self.pos
        depth = 0
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            elif depth == 0 and ch in ",<>:":
                break
            self.pos += 1
        name = self.text[start:self.pos]
        if not _ATOMIC_NAME.match(name):
            self.fail("expected a type")
        return _atomic(name)


def parse_type(text: str) -> SparkType:
    """The type a simpleString names: parse_type(t.simple_string()) == t for every type whose
    struct field names hold no ':' and do not start with '>' (simpleString does not quote them:
    ``struct<>:int>`` is read as an empty struct with text left over: ValueError), and whose
    nullability flags are true (simpleString does not print them). DDL spellings of types are
    read too (INTEGER, LONG, DEC(5), STRUCT<`a:b`: INT>); a field name is taken verbatim up to
    its ':' unless it is backquoted. Raises ValueError for text that is not a type."""
    parser = _Parser(text)
    t = parser.parse()
    parser.skip_blanks()
    if parser.pos != len(text):
        parser.fail("unexpected text")
    return t


def from_json(value: Any) -> SparkType:
    """The type of Spark's JSON form (``DataType.jsonValue()``; Delta's schemaString): a name
    (``"integer"``, ``"decimal(10,2)"``) or an object with ``"type"`` struct, array or map.
    Raises ValueError for anything else."""
    if isinstance(value, str):
        if value == "null":
            return NULL
        if not _ATOMIC_NAME.match(value):
            raise ValueError(f"unknown Spark type {value!r}")
        return _atomic(value)
    if not isinstance(value, dict):
        raise ValueError(f"unknown Spark type {value!r}")
    kind = value.get("type")
    try:
        if kind == "struct":
            return StructType(tuple(StructField(str(f["name"]), from_json(f["type"]), bool(f.get("nullable", True)))
                                    for f in value["fields"]))
        if kind == "array":
            return ArrayType(from_json(value["elementType"]), bool(value.get("containsNull", True)))
        if kind == "map":
            return MapType(from_json(value["keyType"]), from_json(value["valueType"]),
                           bool(value.get("valueContainsNull", True)))
    except (KeyError, TypeError) as exc:  # a member missing, or not an object
        raise ValueError(f"Spark type {kind} without {exc}: {str(value)[:200]}") from None
    raise ValueError(f"unknown Spark type {str(value)[:200]}")
