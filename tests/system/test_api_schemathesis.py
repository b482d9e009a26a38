"""schemathesis against the app's own OpenAPI (bounded examples): every documented operation, data
generated from the schema (patterns included); the response must match the documented status codes,
content type and schema, and never be a 5xx."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.core.parameters import ParameterLocation

from tests.api_helpers import AUTH, make_app
from tests.unit.test_api_changes import ChangesReader

APP, _, _ = make_app(Path(tempfile.mkdtemp(prefix="nuvyn-schemathesis-")), reader=ChangesReader())
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_conforms(case):
    # Every default check runs (no 5xx, documented status codes, content types, response schemas,
    # headers, 405 for undeclared methods, negative data rejected) except positive_data_acceptance:
    # a schema cannot say which page_token a server issued or which data_source_path exists; the
    # server's 400/403 for those name the problem.
    # A case whose headers were generated invalid (e.g. without the required Authorization) is sent as
    # generated; every other case gets the bearer token.
    negative_headers = case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER)
    case.call_and_validate(headers=None if negative_headers else AUTH, excluded_checks=[positive_data_acceptance])
