"""Column profiles: null count, distinct count, min and max. Pure Python, one pass per table.

A profile is computed over the rows the executor reads for the table, bounded by
NUVYN_PROFILE_MAX_ROWS (the first rows of the first files). When those are all the table's rows
the profile is `exact`; otherwise it is `sampled` (the row count of the table stays exact whatever
the bound). Exact facts from file metadata (Parquet footer statistics, Delta log statistics)
replace the sampled null count, min and max when every file carries them (`apply_exact`).

- `null_count`: values that are null (CSV: an empty field or a missing trailing field, as Spark
  reads them; JSON: a missing field or null).
- `distinct_count`: distinct non-null values, counted exactly over the rows profiled (a set of
  their text form; nested values as canonical JSON). Exact when the profile is exact; over a
  sample it is a lower bound of the table's true distinct count (no estimator error: it is the
  sample's exact count). Vectorized (`distinct_count`): numbers, dates and times, and strings
  where most values differ that are short or digits of one length (timestamps and dates written as
  text), are sorted as 64-bit keys and their steps counted (~0.6 ms per
  100,000 values, against 3-7 ms for a hash table when most values differ); a column whose values
  strictly rise or fall needs neither; the rest is hashed by pyarrow.
- `min_value` / `max_value`: as text, for orderable types only (numbers compared as numbers,
  strings, dates and timestamps in their natural order, booleans false < true); NULL for binary,
  nested types and columns without a non-null value.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from executor.metadata.types.algebra import (
    BOOLEAN,
    DATE,
    DOUBLE,
    FLOAT,
    INTEGRAL,
    STRING,
    TIMESTAMP,
    TIMESTAMP_NTZ,
    AtomicType,
    DecimalType,
    SparkType,
    parse_type,
)

PROFILE_EXACT = "exact"
PROFILE_SAMPLED = "sampled"

_ORDERED = frozenset((*INTEGRAL, FLOAT, DOUBLE, STRING, DATE, TIMESTAMP, TIMESTAMP_NTZ, BOOLEAN))


@functools.lru_cache(maxsize=1024)
def _type_of(type_string: str) -> SparkType | None:
    """The Spark type a column's data_type names (None for text that is not a type)."""
    try:
        return parse_type(type_string)
    except ValueError:
        return None


def _is_char(t: SparkType | None) -> bool:
    """char(n) / varchar(n): strings to Spark's readers."""
    return isinstance(t, AtomicType) and t.name.lower().startswith(("char", "varchar"))


def orderable(type_string: str) -> bool:
    t = _type_of(type_string)
    return isinstance(t, DecimalType) or t in _ORDERED or _is_char(t)


def _text_key(type_string: str) -> Callable[[str], Any] | None:
    """How a CSV text value of this Spark type compares (None when the text does not parse)."""
    t = _type_of(type_string)
    if t in INTEGRAL:
        return int
    if t is FLOAT or t is DOUBLE:
        return float
    if isinstance(t, DecimalType):
        return Decimal
    if t is BOOLEAN:
        return lambda v: {"true": True, "false": False}[v.strip().lower()]
    return str


def render(value: Any) -> str:
    """A value as profile text (Spark-like for scalars, canonical JSON for nested values)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (date, Decimal, int, float)):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str, ensure_ascii=False, sort_keys=True)
    return str(value)


@dataclass
class ColumnProfile:
    null_count: int | None = None
    distinct_count: int | None = None
    min_value: str | None = None
    max_value: str | None = None
    profile_scope: str | None = None  # exact | sampled


class ColumnProfiler:
    """Accumulates one column's profile. `add(value)` per row; values may be Python objects
    (Parquet, ORC, Avro, JSON) or text (`text=True`: CSV, where '' is null and text parses by type)."""

    def __init__(self, type_string: str, *, text: bool = False, max_chars: int = 100) -> None:
        self.type_string = type_string
        self.text = text
        self.max_chars = max_chars
        self.nulls = 0
        self.rows = 0
        self.distinct: set[str] = set()
        self.ordered = orderable(type_string)
        self._key = _text_key(type_string) if text else None
        self._min: Any = None
        self._max: Any = None
        self._min_raw: Any = None
        self._max_raw: Any = None

    def add(self, value: Any) -> None:
        self.rows += 1
        if value is None or (self.text and value == ""):
            self.nulls += 1
            return
        if isinstance(value, float) and value != value:  # NaN: a value, never a min/max
            self.distinct.add("NaN")
            return
        self.distinct.add(render(value))
        if not self.ordered:
            return
        if self.text:
            if self._key is None:
                return
            try:
                key = self._key(value)
            except (ValueError, KeyError, InvalidOperation, TypeError):
                return
        else:
            key = value
        try:
            if self._min is None or key < self._min:
                self._min, self._min_raw = key, value
            if self._max is None or key > self._max:
                self._max, self._max_raw = key, value
        except TypeError:  # mixed Python types (should not happen within one Spark type)
            pass

    def add_all(self, values: Iterable[Any]) -> ColumnProfiler:
        for v in values:
            self.add(v)
        return self

    def result(self, scope: str) -> ColumnProfile:
        def cut(v: Any) -> str | None:
            return None if v is None else render(v)[: self.max_chars]

        return ColumnProfile(null_count=self.nulls, distinct_count=len(self.distinct),
                             min_value=cut(self._min_raw), max_value=cut(self._max_raw),
                             profile_scope=scope)


def apply_exact(profile: ColumnProfile, *, null_count: int | None = None, min_value: Any = None,
                max_value: Any = None, max_chars: int = 100, orderable_type: bool = True) -> ColumnProfile:
    """Replace sampled facts with exact ones from file metadata (None = not known exactly)."""
    if null_count is not None:
        profile.null_count = null_count
    if orderable_type and min_value is not None:
        profile.min_value = render(min_value)[:max_chars]
    if orderable_type and max_value is not None:
        profile.max_value = render(max_value)[:max_chars]
    return profile


def profile_rows(names_types: list[tuple[str, str]], rows: Iterable[dict[str, Any]], scope: str,
                 max_chars: int = 100) -> dict[str, ColumnProfile]:
    """Profiles of dict rows (a missing key is a null)."""
    profilers = {n: ColumnProfiler(t, max_chars=max_chars) for n, t in names_types}
    for row in rows:
        for n, p in profilers.items():
            p.add(row.get(n))
    return {n: p.result(scope) for n, p in profilers.items()}


def profile_arrow(names_types: list[tuple[str, str]], batches: Iterable[Any], scope: str,
                  max_chars: int = 100) -> dict[str, ColumnProfile]:
    """Profiles of Arrow record batches (columns by name; a column missing from a batch is null)."""
    import pyarrow as pa

    batches = list(batches)
    out: dict[str, ColumnProfile] = {}
    for n, t in names_types:
        chunks = []
        for batch in batches:
            names = batch.schema.names
            chunks.append(batch.column(names.index(n)) if n in names else pa.nulls(batch.num_rows))
        types = {c.type for c in chunks if not pa.types.is_null(c.type)}
        if len(types) > 1:  # files disagree on the Arrow type: profile the Python values
            values = [v for c in chunks for v in c.to_pylist()]
            out[n] = ColumnProfiler(t, max_chars=max_chars).add_all(values).result(scope)
            continue
        typ = types.pop() if types else pa.null()
        column = pa.chunked_array([c if c.type == typ else pa.nulls(len(c), typ) for c in chunks], typ)
        out[n] = profile_column(column, t, scope, max_chars=max_chars)
    return out


# ---------------------------------------------------------------------------- vectorized (pyarrow)

_ARROW_TEXT_CASTS: dict[SparkType, str] = {
    INTEGRAL[0]: "int64", INTEGRAL[1]: "int64", INTEGRAL[2]: "int64", INTEGRAL[3]: "int64",
    FLOAT: "float64", DOUBLE: "float64", BOOLEAN: "bool_", DATE: "date32",
    TIMESTAMP: "timestamp_us", TIMESTAMP_NTZ: "timestamp_us",
}


def _arrow_cast_target(type_string: str) -> Any:
    import pyarrow as pa

    t = _type_of(type_string)
    if isinstance(t, DecimalType):
        return pa.decimal128(t.precision, t.scale)
    name = _ARROW_TEXT_CASTS.get(t) if t is not None else None
    if name is None:
        return pa.string() if t is STRING or _is_char(t) else None
    return pa.timestamp("us") if name == "timestamp_us" else getattr(pa, name)()


def _string_chunks(arr: Any) -> Any:
    """(chunk, its values' offsets: len + 1 of them, into the chunk's data buffer) for each non-empty
    chunk of a string or binary array (an Array or a ChunkedArray; a slice's offsets start where it
    starts)."""
    import numpy as np
    import pyarrow as pa

    for chunk in arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]:
        if not len(chunk):
            continue
        wide = pa.types.is_large_string(chunk.type) or pa.types.is_large_binary(chunk.type)
        width = np.dtype(np.int64 if wide else np.int32)
        yield chunk, np.frombuffer(chunk.buffers()[1], dtype=width, count=len(chunk) + 1,
                                   offset=chunk.offset * width.itemsize)


def _holds_any(arr: Any, needles: tuple[bytes, ...]) -> bool:
    """Whether a value of a string array holds one of `needles`: its text searched at C speed
    (pc.match_substring with ignore_case is a regex: 4 ms per 100,000 values against 0.03 ms)."""
    for chunk, at in _string_chunks(arr):
        data = chunk.buffers()[2]
        if data is None:
            continue
        text = memoryview(data)[int(at[0]):int(at[-1])].tobytes()
        if any(n in text for n in needles):
            return True
    return False


def _has_empty(arr: Any) -> bool:
    """Whether a string array holds a value of length 0 (an empty string, or a null), from its
    offsets (~0.02 ms per 100,000 values, against ~0.3 ms to compare and replace them all)."""
    return any(chunk.null_count or bool((at[1:] == at[:-1]).any()) for chunk, at in _string_chunks(arr))


def _fixed_width_values(arr: Any, *, bits: bool = False) -> Any:
    """The non-null values of a numeric or temporal array as a numpy array over its buffers (no copy
    for one chunk without nulls): as their numbers (signed, unsigned or floating), or with `bits` as
    unsigned integers of the same width (a float's bit pattern: what Arrow's own distinct count
    compares, so -0.0 and 0.0, and NaNs of different payloads, stay apart). None for another type."""
    import numpy as np
    import pyarrow as pa

    t = arr.type
    if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_date(t) or pa.types.is_timestamp(t)
            or pa.types.is_time(t) or pa.types.is_duration(t)) or t.bit_width not in (8, 16, 32, 64):
        return None
    kind = "u" if bits or pa.types.is_unsigned_integer(t) else "f" if pa.types.is_floating(t) else "i"
    width = np.dtype(f"{kind}{t.bit_width // 8}")
    parts = []
    for c in arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]:
        if not len(c) or c.null_count == len(c):
            continue
        v = np.frombuffer(c.buffers()[1], dtype=width, count=len(c), offset=c.offset * width.itemsize)
        if c.null_count:
            v = v[c.is_valid().to_numpy(zero_copy_only=False)]
        parts.append(v)
    if not parts:
        return np.zeros(0, dtype=width)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _strictly_monotonic(arr: Any) -> bool:
    """Whether a numeric or temporal array without nulls strictly increases or strictly decreases
    (ids, sequence numbers and event times often do): its values are then all distinct, known in
    ~0.1 ms per 100,000 values where hashing them takes 3-5 ms. NaN compares false: never monotonic."""
    if arr.null_count or len(arr) < 2:
        return False
    v = _fixed_width_values(arr)
    if v is None:
        return False
    if v[1] > v[0]:
        return bool((v[1:] > v[:-1]).all())
    if v[1] < v[0]:
        return bool((v[1:] < v[:-1]).all())
    return False


# ------------------------------------------------------------- distinct counts without a hash table

_SORT_MIN = 256  # below this, pc.unique's hash table is as quick as anything here
_PROBE = 2048
_WORD_MASKS = None


def _word_masks() -> Any:
    """masks[L]: the low L bytes of a 64-bit word (L = 0..8)."""
    global _WORD_MASKS
    if _WORD_MASKS is None:
        import numpy as np

        _WORD_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], dtype=np.uint64)
    return _WORD_MASKS


def _sorted_distinct(keys: Any) -> int:
    """Distinct values of a 1-D numpy array of integers: sorted (vectorized, ~0.6 ms per 100,000
    64-bit keys where pc.unique takes 3-6 ms when most values differ), then its steps counted."""
    import numpy as np

    if not keys.size:
        return 0
    s = np.sort(keys)
    return int(np.count_nonzero(s[1:] != s[:-1])) + 1


def _short_string_keys(arr: Any) -> Any:
    """The non-null values of a string or binary array as 64-bit integers, one a value, when that
    is exact: every value holds no NUL byte (so a value is its bytes zero-padded to 8) and is at most
    8 bytes long once the bytes every value starts with are set aside ("name_1", "name_2" ...).
    None otherwise (longer values, NUL bytes, another type)."""
    import numpy as np
    import pyarrow as pa

    t = arr.type
    if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)
            or pa.types.is_large_binary(t)):
        return None
    starts_, lengths_, datas = [], [], []
    base = 0
    for c, at in _string_chunks(arr):
        if c.null_count == len(c):
            continue
        off = at.astype(np.int64)
        lo, hi = int(off[0]), int(off[-1])
        data = c.buffers()[2]
        region = np.frombuffer(data, dtype=np.uint8, count=hi - lo, offset=lo) if data is not None and hi > lo \
            else np.zeros(0, dtype=np.uint8)
        starts, lengths = off[:-1] - lo, off[1:] - off[:-1]
        if c.null_count:
            valid = c.is_valid().to_numpy(zero_copy_only=False)
            starts, lengths = starts[valid], lengths[valid]
        starts_.append(starts + base)
        lengths_.append(lengths)
        datas.append(region)
        base += region.size
    if not starts_:
        return np.zeros(0, dtype=np.uint64)
    if max(int(w.max()) for w in lengths_ if w.size) > 16:  # past one word after the shared one
        return None
    starts = starts_[0] if len(starts_) == 1 else np.concatenate(starts_)
    lengths = lengths_[0] if len(lengths_) == 1 else np.concatenate(lengths_)
    shortest, longest = int(lengths.min()), int(lengths.max())
    if longest - shortest > 8:  # the bytes set aside below are at most the shortest value's
        return None
    # the values' bytes with 8 zero bytes after them: a word read at any value's start stays inside
    padded = np.zeros(base + 8, dtype=np.uint8)
    at = 0
    for region in datas:
        padded[at:at + region.size] = region
        at += region.size
    if not padded[:base].all():
        return None  # a NUL byte: "a" and "a\0" would pad alike
    words = np.ndarray(shape=(base + 1,), dtype="<u8", buffer=padded, strides=(1,))  # a word at every byte
    masks = _word_masks()
    skip = 0
    if longest > 8:  # set aside the bytes every value starts with (at most the shortest value's)
        first = words[starts] & masks[np.minimum(lengths, 8)]
        differ = int(np.bitwise_or.reduce(first ^ first[0]))
        same = (differ & -differ).bit_length() - 1 if differ else 64  # lowest differing bit
        skip = min(same // 8, shortest)
        if longest - skip > 8:
            return None
    return words[starts + skip] & masks[lengths - skip]


_NIBBLES = 0x0F0F0F0F0F0F0F0F


def _reduce_rows(matrix: Any, ufunc: Any) -> Any:
    """ufunc (bitwise or / and) over the rows of an (n, L) byte matrix, per position: reduced over
    long rows of many values at a time (numpy reduces a 26-byte row at a time ~10x slower)."""
    import numpy as np

    n, width = matrix.shape
    k = max(1, 4096 // max(width, 1))
    m = (n // k) * k
    out = matrix[0].copy()
    if m:
        out = ufunc(out, ufunc.reduce(ufunc.reduce(matrix[:m].reshape(m // k, k * width), axis=0).reshape(k, width), axis=0))
    if m < n:
        out = ufunc(out, ufunc.reduce(matrix[m:], axis=0))
    return out.astype(np.uint8)


def _fixed_text_keys(arr: Any) -> Any:
    """The non-null values of a string array whose values all have one length, as 64-bit keys, when
    that is exact: the positions where the values differ lie within 16 bytes and hold only bytes
    0x30-0x3F there (the digits, and `:;<=>?`: timestamps, dates, zero-padded numbers written as
    text), so the low 4 bits of each of those 16 bytes, packed, tell every value apart (the positions
    outside them are the same in every value). None otherwise."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return None
    lengths = pc.min_max(pc.binary_length(arr))  # of the non-null values: one length, else no copy made
    if not lengths["min"].is_valid or lengths["min"].as_py() != lengths["max"].as_py():
        return None
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if arr.null_count:
        arr = arr.drop_null()
    n, width = len(arr), int(lengths["min"].as_py())
    if not width:
        return None
    start = int(next(_string_chunks(arr))[1][0])  # every value `width` bytes, one after another
    matrix = np.frombuffer(arr.buffers()[2], dtype=np.uint8, count=n * width, offset=start).reshape(n, width)
    varying = np.flatnonzero(_reduce_rows(matrix, np.bitwise_or) != _reduce_rows(matrix, np.bitwise_and))
    if not varying.size:
        return np.zeros(n, dtype=np.uint64)
    first = int(varying[0])
    span = int(varying[-1]) - first + 1
    if span > 16:
        return None
    window = np.zeros((n, 16), dtype=np.uint8)
    window[:, :span] = matrix[:, first:first + span]
    marked = np.zeros(16, dtype=np.uint8)
    marked[varying - first] = 0xFF
    words = window.view("<u8")  # (n, 2)
    masks = marked.view("<u8")
    for j in range(2):  # where the values differ, each byte is 0x30-0x3F (its low half tells it apart)
        if bool(((words[:, j] ^ np.uint64(0x3030303030303030)) & np.uint64(0xF0F0F0F0F0F0F0F0) & masks[j]).any()):
            return None
    keys = np.zeros(n, dtype=np.uint64)
    for j in range(2):  # the 8 low halves of a word packed into 32 bits
        x = words[:, j] & np.uint64(_NIBBLES)
        x = (x | (x >> np.uint64(4))) & np.uint64(0x00FF00FF00FF00FF)
        x = (x | (x >> np.uint64(8))) & np.uint64(0x0000FFFF0000FFFF)
        x = (x | (x >> np.uint64(16))) & np.uint64(0x00000000FFFFFFFF)
        keys |= x << np.uint64(32 * j)
    return keys


def _mostly_distinct(arr: Any) -> bool:
    """Whether 19 in 20 of the first _PROBE values of a string array differ from each other (~0.05
    ms): where hashing is slow. pc.unique takes ~1.5 ms per 100,000 values with 10,000 distinct ones
    (whose first 2,048 hold ~1,850 distinct) and 4-7 ms with 60,000-100,000, against ~2 ms to build
    64-bit keys and sort them whatever their number."""
    import pyarrow.compute as pc

    probe = arr.slice(0, _PROBE)
    return len(pc.unique(probe)) * 20 > len(probe) * 19


def distinct_count(arr: Any) -> int:
    """The distinct non-null values of an Arrow array (or ChunkedArray), exactly: numbers, dates and
    times, and strings where most values differ that are short or digits of one length (timestamps
    written as text), are sorted as 64-bit keys (see above); other values are hashed by pyarrow
    (pc.unique for strings, about three times sooner than count_distinct's hash aggregate)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = arr.type
    if len(arr) - arr.null_count >= _SORT_MIN:
        keys = _fixed_width_values(arr, bits=True)
        if keys is None and (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)
                             or pa.types.is_large_binary(t)) and _mostly_distinct(arr):
            keys = _short_string_keys(arr)
            if keys is None:
                keys = _fixed_text_keys(arr)
        if keys is not None:
            return _sorted_distinct(keys)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        return len(pc.unique(arr)) - (1 if arr.null_count else 0)  # null is one of the unique values
    return int(pc.count_distinct(arr, mode="only_valid").as_py())


def profile_column(values: Any, type_string: str, scope: str, *, text: bool = False,
                   max_chars: int = 100) -> ColumnProfile:
    """One column's profile with pyarrow compute (C++), the same facts as ColumnProfiler.

    `values`: a pyarrow Array/ChunkedArray, or a Python list (text=True: CSV strings, '' is null).
    Columns pyarrow cannot do exactly the same way (nested values, text that does not cast to its
    Spark type, e.g. a timestamp format Arrow does not parse) go through ColumnProfiler."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def slow() -> ColumnProfile:
        py = values.to_pylist() if hasattr(values, "to_pylist") else values
        return ColumnProfiler(type_string, text=text, max_chars=max_chars).add_all(py).result(scope)

    try:
        arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(
            values, pa.string() if text else None)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return slow()
    if text:
        if not pa.types.is_string(arr.type):
            return slow()
        if _has_empty(arr):  # '' is null (a column without one is kept as it is: no copy)
            arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)
    elif pa.types.is_nested(arr.type) or pa.types.is_dictionary(arr.type) or pa.types.is_null(arr.type):
        return slow()
    profile = ColumnProfile(null_count=arr.null_count, profile_scope=scope)
    typed: Any = None  # the values as their type, for min and max (None: the type has none)
    if orderable(type_string) and arr.null_count < len(arr):
        typed = arr
        if text:
            target = _arrow_cast_target(type_string)
            if target is None:
                return slow()
            try:
                typed = pc.cast(arr, target) if target != pa.string() else arr
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return slow()
            if pa.types.is_integer(typed.type) and _holds_any(arr, (b"x", b"X")):
                return slow()  # hexadecimal text: Arrow's cast reads 0x10 as 16, Spark's rules (and int()) do not
            if pa.types.is_floating(typed.type) and pc.any(pc.is_nan(typed)).as_py():
                return slow()  # NaN text: the slow path's exact rules (never a min or max)
        elif pa.types.is_binary(typed.type) or pa.types.is_large_binary(typed.type):
            typed = None
    if typed is not None and _strictly_monotonic(typed):
        # every value differs from the one before in one direction: all distinct (as text too: a
        # text's value is a function of the text, so different values come from different texts)
        profile.distinct_count = len(arr) - arr.null_count
    else:
        profile.distinct_count = distinct_count(arr)
    if typed is None:
        return profile
    mm = pc.min_max(typed)
    lo, hi = mm["min"], mm["max"]
    if not lo.is_valid:
        return profile
    if text:  # the file's own text of the smallest / largest value
        lo_raw = arr[pc.index(typed, lo).as_py()].as_py()
        hi_raw = arr[pc.index(typed, hi).as_py()].as_py()
    else:
        lo_raw, hi_raw = lo.as_py(), hi.as_py()
    profile.min_value = render(lo_raw)[:max_chars]
    profile.max_value = render(hi_raw)[:max_chars]
    return profile
