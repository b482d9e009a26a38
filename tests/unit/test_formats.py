"""The names-only format list (executor/formats.py): the registry agrees with it, the payload reads
it without loading a reader, format_options are validated by each format's option schema and travel
through the one request builder (payload, CLI flag, job parameter, API body), csv_header is an alias
of format_options.csv.header."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from executor.errors import PayloadError
from executor.formats import FORMAT_NAMES, FORMATS, parse_format_option_flag, parse_format_options
from executor.metadata.readers.base import FileFacts, FormatReader, Registry
from executor.metadata.readers.registry import READERS
from executor.payload import FILE_FORMATS, VALID_DATA_SOURCE_TYPES, build_request

ROOT = Path(__file__).resolve().parents[2]
BASE = {"workflow_id": "wf", "data_source_path": "/data"}


def test_the_registry_reads_exactly_the_listed_formats():
    assert READERS.formats == FORMAT_NAMES == FILE_FORMATS
    for spec in FORMATS:
        reader = READERS.reader(spec.name)
        assert sorted(e for e, f in reader.extensions.items() if f == spec.name) == sorted(spec.extensions)
        if spec.extensions:
            assert reader.compressible == spec.compressible, spec.name
    assert "xml" in VALID_DATA_SOURCE_TYPES


def test_a_reader_that_disagrees_with_the_list_is_refused():
    class WrongXml(FormatReader):
        formats = ("xml",)
        extensions = {".xml": "xml", ".xsd": "xml"}

        def extract_table(self, ctx, plan, facts, table):  # pragma: no cover - never registered
            raise AssertionError

    with pytest.raises(ValueError, match="disagrees with executor.formats"):
        Registry([WrongXml()])
    assert FileFacts().signature is None


@pytest.mark.parametrize(("value", "field"), [
    ({"xml": {"rowTag": "a b"}}, "format_options.xml.rowTag"),
    ({"xml": {"rowTag": "<x>"}}, "format_options.xml.rowTag"),
    ({"xml": {"rowTg": "x"}}, "format_options.xml.rowTg"),
    ({"csv": {"header": "maybe"}}, "format_options.csv.header"),
    ({"parquet": {"x": 1}}, "format_options.parquet"),
    ({"nope": {}}, "format_options.nope"),
    ({"xml": "row"}, "format_options.xml"),
    (["xml"], "format_options"),
])
def test_bad_format_options_name_the_field(value, field):
    with pytest.raises(PayloadError, match=field.replace(".", r"\.")):
        build_request({**BASE, "format_options": value})


def test_format_options_are_normalised():
    assert parse_format_options({"XML": {"rowtag": " record "}, "csv": {"header": True}}) == {
        "xml": {"rowTag": "record"}, "csv": {"header": "true"}}
    assert parse_format_option_flag("xml.rowTag=ns:item") == {"xml": {"rowTag": "ns:item"}}
    with pytest.raises(PayloadError, match="FORMAT.OPTION=VALUE"):
        parse_format_option_flag("rowTag=x")


def test_csv_header_is_an_alias_of_format_options_csv_header():
    assert build_request({**BASE, "csv_header": False}).format_options == {"csv": {"header": "false"}}
    assert build_request({**BASE, "format_options": {"csv": {"header": "true"}}}).csv_header == "true"
    with pytest.raises(PayloadError, match="csv_header"):
        build_request({**BASE, "csv_header": "false", "format_options": {"csv": {"header": "true"}}})


def test_explicit_options_win_per_option_and_the_payload_keeps_the_others():
    payload = {**BASE, "format_options": {"xml": {"rowTag": "item"}, "csv": {"header": "false"}}}
    request = build_request(payload, {"format_options": ["csv.header=true"]})
    assert request.format_options == {"xml": {"rowTag": "item"}, "csv": {"header": "true"}}
    assert build_request(payload, {"csv_header": "auto"}).csv_header == "auto"  # the alias is explicit too


def test_the_job_parameter_and_the_cli_flag_reach_the_request():
    from executor.cli import build_parser
    from executor.main import resolve_request
    from executor.ops.commands import build_extract_request

    payload = json.dumps({**BASE, "format_options": {"xml": {"rowTag": "item"}}})
    job = resolve_request(["--payload", payload, "--format_option=xml.rowTag=record",
                           "--format-option", "csv.header=false"], {})
    assert job.format_options == {"xml": {"rowTag": "record"}, "csv": {"header": "false"}}
    args = build_parser().parse_args(["extract", "/data", "--workflow-id", "wf", "--format-option", "xml.rowTag=rec"])
    assert build_extract_request(args, {}).format_options == {"xml": {"rowTag": "rec"}}
    with pytest.raises(PayloadError, match=r"format_options\.xml\.rowTag"):
        resolve_request(["--payload", payload, "--format_option=xml.rowTag=a b"], {})


def test_help_lists_the_format_options():
    from executor.main import argument_parser

    text = argument_parser().format_help()
    assert "xml.rowTag" in text and "csv.header" in text
    assert all(name in text for name in FORMAT_NAMES)


def test_the_docs_list_every_format():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    payload_row = next(line for line in readme.splitlines() if line.startswith("| `data_source_type` | no |"))
    assert all(f"`{name}`" in payload_row for name in FORMAT_NAMES)
    for spec in FORMATS:
        assert all(f"`{ext}`" in readme for ext in spec.extensions), spec.name
        assert all(f"{spec.name}.{o.name}" in readme for o in spec.options), spec.name
    architecture = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    assert all(f"readers/{name}.py" in architecture for name in FORMAT_NAMES if name not in ("tsv",))
