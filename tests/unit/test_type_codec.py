"""executor.metadata.types.codec: every Spark type JSON inference can produce (and the rest of the algebra)
crosses plain JSON losslessly: nullability flags, void fields, empty structs, the corrupt-record column,
nested arrays and structs, decimals, field names of any text."""

from __future__ import annotations

import json

import pytest

from executor.metadata.types.algebra import (
    BINARY,
    BOOLEAN,
    DATE,
    DOUBLE,
    INT,
    LONG,
    NULL,
    STRING,
    TIMESTAMP_NTZ,
    ArrayType,
    AtomicType,
    DecimalType,
    MapType,
    StructField,
    StructType,
)
from executor.metadata.types.codec import decode_type, encode_type
from executor.metadata.types.json_inference import (
    CORRUPT_ONLY,
    EMPTY_STRUCT,
    canonicalize,
    compatible_root,
    infer_value,
)


def across_json(t):
    return decode_type(json.loads(json.dumps(encode_type(t), sort_keys=True)))


def same(a, b) -> bool:
    """Equal, and equal in everything simple_string does not print (flags, field names)."""
    return a == b and json.dumps(encode_type(a)) == json.dumps(encode_type(b)) and str(a) == str(b)


TYPES = [
    NULL, BOOLEAN, LONG, DOUBLE, STRING, INT, BINARY, DATE, TIMESTAMP_NTZ, AtomicType("char(10)"),
    AtomicType("interval day to second"), DecimalType(20, 0), DecimalType(38, 0), DecimalType(38, 38),
    DecimalType(1, 0), EMPTY_STRUCT, CORRUPT_ONLY,
    StructType((StructField("a", NULL), StructField("b", EMPTY_STRUCT))),  # void and empty fields, before canonicalize
    StructType((StructField("x:y>", STRING), StructField("é", LONG, False), StructField("", DOUBLE))),
    ArrayType(NULL), ArrayType(EMPTY_STRUCT), ArrayType(ArrayType(ArrayType(LONG, False))),
    ArrayType(StructType((StructField("_corrupt_record", STRING), StructField("n", ArrayType(NULL))))),
    MapType(STRING, ArrayType(DecimalType(20, 0)), False), MapType(INT, MapType(STRING, NULL)),
]


@pytest.mark.parametrize("t", TYPES, ids=str)
def test_every_type_crosses_json_losslessly(t):
    back = across_json(t)
    assert same(back, t)
    if isinstance(t, AtomicType):
        assert back is t  # atomic types stay interned


# every shape JSON inference produces: scalars, big integers (decimal, double), nulls, empty objects,
# nested arrays of objects, arrays of mixed elements, malformed roots, then the files' merge
RECORDS = [
    {"a": 1, "b": 2.5, "c": "x", "d": True, "e": None, "f": {}, "g": []},
    {"a": 2**64, "big": 10**40, "neg": -(2**70), "nested": {"x": {"y": [{"z": None}, {"z": 1}]}}},
    {"arr": [[1, 2], [3.5]], "mixed": [1, "a", None], "objs": [{"p": 1}, {"q": {}}], "empty": [[]]},
    {"a": "now a string", "nested": {"x": 5}, "é": [{"ü": 1}], "k:>": 0},
    [{"row": 1}, {"row": None}],
    5, None, [1, 2], "text",
]


def test_every_shape_json_inference_produces_crosses_json_losslessly():
    root = EMPTY_STRUCT
    for value in RECORDS:
        t = infer_value(value)
        assert same(across_json(t), t), value
        root = compatible_root(root, t)
        back = across_json(root)
        assert same(back, root)
        assert canonicalize(back) == canonicalize(root)
        assert compatible_root(back, CORRUPT_ONLY) == compatible_root(root, CORRUPT_ONLY)  # merges the same way
    assert "_corrupt_record" in str(root) and "void" in str(root)  # the shapes were reached


@pytest.mark.parametrize("data", [5, None, ["decimal", 5], ["array"], ["struct", [["a"]]], ["tuple", 1],
                                  ["decimal", 3, 5]])
def test_data_that_is_not_an_encoded_type_is_refused(data):
    with pytest.raises(ValueError):
        decode_type(data)


def test_a_value_outside_the_algebra_is_refused():
    with pytest.raises(TypeError):
        encode_type("bigint")  # type: ignore[arg-type]
