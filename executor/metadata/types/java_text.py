"""The Java and Spark parsers that Spark's inference rules call, ported to Python: a value the
rules test ("is it an int?", "a date?") gets the answer Java would give.

* :func:`java_parse_int` (Integer.parseInt / Long.parseLong), :func:`java_parse_double`
  (Double.parseDouble), :func:`big_decimal` (new java.math.BigDecimal), :func:`java_bool`;
* :func:`strict_iso_date` (Iso8601DateFormatter "yyyy-MM-dd", ResolverStyle.STRICT);
* :func:`is_timestamp` (SparkDateTimeUtils.stringToTimestamp, the session time zone);
* :func:`needs_spark`: text where Java and Python may disagree (Unicode digits, case mappings),
  left to Spark (:class:`SparkFallback`).
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from decimal import Decimal, InvalidOperation

from executor.metadata.types.fallback import SparkFallback

_JAVA_INT = re.compile(r"[+-]?[0-9]+\Z")
_BIG_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_JAVA_DOUBLE = re.compile(
    r"[+-]?(?:NaN|Infinity"
    r"|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[fFdD]?"
    r"|0[xX](?:[0-9a-fA-F]+\.?|[0-9a-fA-F]*\.[0-9a-fA-F]+)[pP][+-]?[0-9]+[fFdD]?)\Z")
JAVA_TRIM = "".join(chr(c) for c in range(0x21))  # String.trim(): every char <= ' '
# Characters whose case mapping or digit value differ between Java and Python, or that Java's
# number parsers read as digits: a value holding one is left to Spark.
JAVA_SENSITIVE = re.compile(r"[\u017f\u0131\u0130\u212a]")


def needs_spark(s: str) -> bool:
    """Non-ASCII text that Java might read as a number or boolean differently than we would."""
    if s.isascii():
        return False
    return bool(JAVA_SENSITIVE.search(s)) or any(ch.isdigit() or ch.isnumeric() for ch in s if not ch.isascii())


def java_parse_int(s: str, bits: int) -> bool:
    """Integer.parseInt / Long.parseLong (ASCII digits; Unicode digits are pre-screened)."""
    if not _JAVA_INT.match(s):
        return False
    v = int(s)
    return -(1 << (bits - 1)) <= v < (1 << (bits - 1))


def java_parse_double(s: str) -> bool:
    """java.lang.Double.parseDouble: trims chars <= ' ', then FloatingDecimal's grammar."""
    return bool(_JAVA_DOUBLE.match(s.strip(JAVA_TRIM)))


def big_decimal(s: str) -> tuple[int, int] | None:
    """new java.math.BigDecimal(s) -> (precision, scale), or None where it throws."""
    if not _BIG_DECIMAL.match(s):
        return None
    try:
        d = Decimal(s)
    except InvalidOperation:  # pragma: no cover - the regex admits only valid literals
        return None
    _sign, digits, exponent = d.as_tuple()
    scale = -int(exponent)
    if not -(1 << 31) <= scale < (1 << 31):
        return None
    return len(digits), scale


def java_bool(s: str) -> bool:
    return s.lower() in ("true", "false")


# ------------------------------------------------------------------------------ dates & timestamps

_ISO_DATE = re.compile(r"([+-]?)([0-9]{4,})-([0-9]{2})-([0-9]{2})\Z")


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def valid_date(y: int, m: int, d: int) -> bool:
    return 1 <= m <= 12 and 1 <= d <= _days_in_month(y, m)


def strict_iso_date(s: str) -> bool:
    """Iso8601DateFormatter("yyyy-MM-dd") (java.time pattern "uuuu-MM-dd", ResolverStyle.STRICT,
    SignStyle.EXCEEDS_PAD) parses all of `s`: 4-digit unsigned years, '+' only with 5+ digits,
    '-' with 4+ digits (not minus zero), |year| <= 999999999, a real proleptic Gregorian date."""
    m = _ISO_DATE.match(s)
    if not m:
        return False
    sign, ys = m.group(1), m.group(2)
    if (sign == "" and len(ys) != 4) or (sign == "+" and len(ys) <= 4) or len(ys) > 19:
        return False
    year = int(ys)
    if sign == "-":
        if year == 0:
            return False
        year = -year
    if abs(year) > 999_999_999:
        return False
    return valid_date(year, int(m.group(3)), int(m.group(4)))


def _zone_ok(zone: str) -> bool:
    """DateTimeUtils.getZoneId(zone) succeeds; unknown region ids are left to Spark."""
    z = zone.strip(JAVA_TRIM)
    z = re.sub(r"^([+-])(\d):", r"\g<1>0\2:", z, count=1)
    z = re.sub(r"^([+-])(\d\d):(\d)$", r"\1\2:0\3", z, count=1)
    if z == "Z" or z in ("UTC", "GMT", "UT"):
        return True
    if z[:1] in ("+", "-"):
        return _zone_offset_ok(z)
    for prefix in ("UTC", "GMT", "UT"):
        if z.startswith(prefix) and z[len(prefix):len(prefix) + 1] in ("+", "-"):
            return _zone_offset_ok(z[len(prefix):])
    if len(z) <= 1:
        return False  # ZoneOffset.of("x") throws
    if z in _JAVA_SHORT_IDS:
        return True
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9~/._+-]+", z):
        return False  # ZoneRegion.checkName rejects it
    if z in _region_ids():
        return True
    raise SparkFallback(f"time zone id {zone!r} (unknown here; Java's tz database decides)")


_JAVA_SHORT_IDS = frozenset(
    ["EST", "MST", "HST", "ACT", "AET", "AGT", "ART", "AST", "BET", "BST", "CAT", "CNT", "CST", "CTT", "EAT", "ECT",
     "IET", "IST", "JST", "MIT", "NET", "NST", "PLT", "PNT", "PRT", "PST", "SST", "VST"])


@functools.cache
def _region_ids() -> frozenset[str]:
    """IANA region ids known to Python (Java's tzdb has the same area/city names)."""
    try:
        return frozenset(zoneinfo.available_timezones())
    except OSError:  # no tz database: every region id goes to Spark
        return frozenset()


def _zone_offset_ok(z: str) -> bool:
    """java.time.ZoneOffset.of for '+h', '+hh', '+hh:mm', '+hhmm', '+hh:mm:ss', '+hhmmss'."""
    body = z[1:]
    n = len(body)
    if not body.isascii() or not all(c.isdigit() or c == ":" for c in body):
        return False
    if n == 1 and body.isdigit() or n == 2 and body.isdigit():
        h, mi, se = int(body), 0, 0
    elif n == 4 and body.isdigit():
        h, mi, se = int(body[:2]), int(body[2:]), 0
    elif n == 5 and body[2] == ":" and (body[:2] + body[3:]).isdigit():
        h, mi, se = int(body[:2]), int(body[3:]), 0
    elif n == 6 and body.isdigit():
        h, mi, se = int(body[:2]), int(body[2:4]), int(body[4:])
    elif n == 8 and body[2] == ":" and body[5] == ":" and (body[:2] + body[3:5] + body[6:]).isdigit():
        h, mi, se = int(body[:2]), int(body[3:5]), int(body[6:])
    else:
        return False
    if h > 18 or mi > 59 or se > 59:
        return False
    return not (h == 18 and (mi or se))


_TRIM_BYTES = frozenset(range(0x21)) | {0x7F}


def _trimmed(b: bytes) -> tuple[int, int]:
    """[start, end) of `b` without leading and trailing bytes <= ' ' and DEL (UTF8String.trimAll)."""
    j, end = 0, len(b)
    while j < end and b[j] in _TRIM_BYTES:
        j += 1
    while end > j and b[end - 1] in _TRIM_BYTES:
        end -= 1
    return j, end


def _segment_ok(seg: int, digits: int) -> bool:
    """isValidDigits: a year has 4-6 digits, fractions any, a zone hour up to 2, others 1-2."""
    return (seg == 6 or (seg == 0 and 4 <= digits <= 6) or (seg == 7 and digits <= 2)
            or (seg not in (0, 6, 7) and 0 < digits <= 2))


def _timestamp_segments(s: str) -> tuple[list[int], str | None, bool] | None:
    """SparkDateTimeUtils.parseTimestampString -> (segments, zone or None, just_time) or None."""
    b = s.encode("utf-8")
    j, end = _trimmed(b)
    if j == end:
        return None
    seg = [1, 1, 1, 0, 0, 0, 0, 0, 0]
    i = 0
    value = 0
    digits = 0
    digits_milli = 0
    just_time = False
    year_sign: int | None = None
    tz: str | None = None
    if b[j] in (0x2D, 0x2B):  # '-' '+'
        year_sign = -1 if b[j] == 0x2D else 1
        j += 1
    while j < end:
        c = b[j]
        d = c - 0x30
        if d < 0 or d > 9:
            at: int | None = None  # the segment this separator ends
            if j == 0 and c == 0x54:  # 'T'
                just_time = True
                i += 3
            elif ((i < 2 and c == 0x2D) or (i == 2 and c in (0x20, 0x54)) or (i in (3, 4) and c == 0x3A)
                  or (6 < i < len(seg) and c in (0x3A, 0x20))):
                at = i
            elif i == 0 and c == 0x3A and year_sign is None:  # ':'
                just_time = True
                at = 3
            elif i in (5, 6):
                at = i
                if not (c == 0x2E and i == 5):  # not '.': the zone starts here
                    tz = b[j:end].decode("utf-8", errors="replace")
                    j = end - 1
            else:
                return None
            if at is not None:
                if not _segment_ok(at, digits):
                    return None
                seg[at] = value
                value = digits = 0
                i = at + 1
                if i == 6 and c != 0x2E:
                    i += 1
        else:
            if i == 6:
                digits_milli += 1
            if i != 6 or digits < 6:
                value = value * 10 + d
            digits += 1
        j += 1
    if not _segment_ok(i, digits):
        return None
    if i >= len(seg):
        return None  # ArrayIndexOutOfBounds in Spark -> NonFatal -> None
    seg[i] = value
    while digits_milli < 6:
        seg[6] *= 10
        digits_milli += 1
    seg[0] *= year_sign or 1
    return seg, tz, just_time


# the common spelling `yyyy-MM-dd HH:mm:ss[.f...]` (or a T between date and time), decided without
# the segment parser: it parses to exactly these segments (4-digit year, no zone, no trim)
_PLAIN_TIMESTAMP = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})[ T]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?\Z")


def is_timestamp(s: str) -> bool:
    """SparkDateTimeUtils.stringToTimestamp(s, sessionZone).isDefined (TIMESTAMP_LTZ)."""
    m = _PLAIN_TIMESTAMP.match(s)
    if m is not None:
        y, mo, d, h, mi, se = (int(g) for g in m.groups())
        return h <= 23 and mi <= 59 and se <= 59 and valid_date(y, mo, d)
    parsed = _timestamp_segments(s)
    if parsed is None:
        return False
    seg, tz, just_time = parsed
    if tz is not None and not _zone_ok(tz):
        return False
    if not (0 <= seg[3] <= 23 and 0 <= seg[4] <= 59 and 0 <= seg[5] <= 59):
        return False
    if just_time:
        return True
    if abs(seg[0]) >= 290000:
        raise SparkFallback(f"timestamp year near the microsecond range limit {s!r}")
    return valid_date(seg[0], seg[1], seg[2])
