"""One precedence rule for every entry point (executor.payload.build_request; README "Where each
request field comes from"). Each case of the table is rendered in the form of each entry point that
can express it, and every entry point must give the same request, or the same refusal:

- job_env:     python -m executor.main <positional...> [--key=value] with NUVYN_JOB_PAYLOAD (the seed's form)
- job_param:   python -m executor.main --payload=<json> [--key=value] (nuvyn-executor run, the same parser)
- databricks:  the bundle's python_wheel_task parameters (jobs/metadata_extraction.job.yml) with the
               run's payload, as job_main receives them from run_now(job_parameters={"payload": ...})
- extract:     nuvyn-executor extract <path> [flags] with NUVYN_JOB_PAYLOAD / --payload
- api:         POST /jobs/create with the payload as body (a real app, a recording launcher), then the
               argv and environment the local launcher gives the child, parsed by the child's parser
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from executor.api.launchers import LocalLauncher
from executor.api.store import JobStore
from executor.cli import build_parser
from executor.errors import PayloadError
from executor.main import resolve_request
from executor.ops.commands import build_extract_request
from tests.api_helpers import AUTH, SEED_PATH, make_app

PATH = SEED_PATH  # an Azure path the test server may read (api_helpers.SERVER_ENV)
OTHER = "https://storageaccount.blob.core.windows.net/container/other"
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Case:
    name: str
    payload: dict[str, Any]
    explicit: dict[str, Any] = field(default_factory=dict)  # flags / job parameters of this invocation
    env: dict[str, str] = field(default_factory=dict)  # NUVYN_INCLUDE / NUVYN_EXCLUDE
    expect: dict[str, Any] | None = None  # fields of the JobRequest; None: refused
    error: str = ""  # what the refusal names


CASES = [
    Case("payload top level only", {"workflow_id": "wf_top", "source_id": "src_top", "data_source_path": PATH},
         expect={"workflow_id": "wf_top", "source_id": "src_top", "data_source_path": PATH}),
    Case("job_metadata wins over the top level (the contract)",
         {"workflow_id": "wf_top", "source_id": "src_top", "data_source_path": PATH,
          "job_metadata": {"workflow_id": "wf_meta", "source_id": "src_meta"}},
         expect={"workflow_id": "wf_meta", "source_id": "src_meta"}),
    Case("job_metadata alone", {"data_source_path": PATH, "job_metadata": {"workflow_id": "wf_meta"}},
         expect={"workflow_id": "wf_meta", "source_id": None}),
    Case("empty ids are absent", {"workflow_id": "wf_top", "source_id": "", "data_source_path": PATH,
                                  "job_metadata": {"workflow_id": " ", "source_id": ""}},
         expect={"workflow_id": "wf_top", "source_id": None}),
    Case("an explicit workflow_id wins over job_metadata",
         {"workflow_id": "wf_top", "data_source_path": PATH, "job_metadata": {"workflow_id": "wf_meta"}},
         explicit={"workflow_id": "wf_flag"}, expect={"workflow_id": "wf_flag"}),
    Case("an explicit source_id wins, workflow_id still from job_metadata",
         {"workflow_id": "wf_top", "data_source_path": PATH,
          "job_metadata": {"workflow_id": "wf_meta", "source_id": "src_meta"}},
         explicit={"source_id": "src_flag"}, expect={"workflow_id": "wf_meta", "source_id": "src_flag"}),
    Case("explicit path, type and tenant win over the payload",
         {"workflow_id": "wf", "data_source_path": OTHER, "data_source_type": "csv", "tenant_id": "t_payload"},
         explicit={"data_source_path": PATH, "data_source_type": "parquet", "tenant_id": "t_flag"},
         expect={"data_source_path": PATH, "data_source_type": "parquet", "tenant_id": "t_flag"}),
    Case("payload type, tenant and csv_header", {"workflow_id": "wf", "data_source_path": PATH,
                                                 "data_source_type": "abfss", "tenant_id": "t1", "csv_header": False},
         expect={"data_source_type": "adls_gen2", "tenant_id": "t1", "csv_header": "false"}),
    Case("explicit csv_header wins", {"workflow_id": "wf", "data_source_path": PATH, "csv_header": "false"},
         explicit={"csv_header": "true"}, expect={"csv_header": "true"}),
    Case("include and exclude from the environment", {"workflow_id": "wf", "data_source_path": PATH},
         env={"NUVYN_INCLUDE": "*.csv,b/*", "NUVYN_EXCLUDE": "tmp/*"},
         expect={"include": ("*.csv", "b/*"), "exclude": ("tmp/*",)}),
    Case("the payload's include wins over the environment",
         {"workflow_id": "wf", "data_source_path": PATH, "include": ["p/*"]},
         env={"NUVYN_INCLUDE": "*.csv", "NUVYN_EXCLUDE": "tmp/*"},
         expect={"include": ("p/*",), "exclude": ("tmp/*",)}),
    Case("explicit include wins over payload and environment",
         {"workflow_id": "wf", "data_source_path": PATH, "include": "p/*"}, explicit={"include": "f/*,g/*"},
         env={"NUVYN_INCLUDE": "*.csv"}, expect={"include": ("f/*", "g/*")}),
    Case("no workflow_id anywhere", {"source_id": "s", "data_source_path": PATH}, error="workflow_id"),
    Case("an invalid job_metadata.workflow_id is refused, not skipped",
         {"workflow_id": "ok", "data_source_path": PATH, "job_metadata": {"workflow_id": "bad id!"}},
         error="workflow_id"),
    Case("an invalid explicit workflow_id is refused",
         {"workflow_id": "ok", "data_source_path": PATH}, explicit={"workflow_id": "bad id!"}, error="workflow_id"),
    Case("an unknown data_source_type is refused", {"workflow_id": "wf", "data_source_path": PATH,
                                                     "data_source_type": "xls"}, error="data_source_type"),
    Case("an invalid csv_header is refused", {"workflow_id": "wf", "data_source_path": PATH, "csv_header": "maybe"},
         error="csv_header"),
]

NAMED = {"workflow_id", "source_id", "data_source_path", "data_source_type", "tenant_id", "include", "csv_header"}


def _named(explicit: dict[str, Any]) -> list[str]:
    return [f"--{k}={v}" for k, v in explicit.items()]


def job_env(case: Case) -> Any:
    """The seed's form: positional arguments (the path, when explicit) and NUVYN_JOB_PAYLOAD."""
    explicit = dict(case.explicit)
    positional = ["metadata_extraction", explicit.pop("data_source_path")] if "data_source_path" in explicit else []
    env = {"NUVYN_JOB_PAYLOAD": json.dumps(case.payload), **case.env}
    return resolve_request([*positional, *_named(explicit), "--write-to-db"], env)


def job_param(case: Case) -> Any:
    return resolve_request(["--payload", json.dumps(case.payload), *_named(case.explicit), "--write-to-db"],
                           dict(case.env))


def databricks(case: Case) -> Any:
    job = yaml.safe_load((ROOT / "jobs" / "metadata_extraction.job.yml").read_text(encoding="utf-8"))
    task = next(iter(job["resources"]["jobs"].values()))["tasks"][0]["python_wheel_task"]
    argv = [p.replace("{{job.parameters.payload}}", json.dumps(case.payload)).replace("{{job.run_id}}", "7")
            for p in task["parameters"]]
    return resolve_request([*argv, *_named(case.explicit)], dict(case.env))


def extract(case: Case) -> Any:
    explicit = dict(case.explicit)
    path = explicit.pop("data_source_path", case.payload.get("data_source_path"))
    flags = {"data_source_type": "--type", "csv_header": "--csv-header"}
    argv = ["extract", path, "--payload", json.dumps(case.payload), "--write-to-db"]
    for name, value in explicit.items():
        argv += [flags.get(name, "--" + name.replace("_", "-")), value]
    return build_extract_request(build_parser().parse_args(argv), dict(case.env))


ENTRY_POINTS = {"job_env": job_env, "job_param": job_param, "databricks": databricks, "extract": extract}


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api")
    app, _launcher, _reader = make_app(tmp)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.store = JobStore(tmp / "jobs.sqlite3")
        client.launcher = LocalLauncher(client.store, logs_dir=tmp / "logs", env={})
        yield client


def via_api(client: Any, case: Case) -> Any:
    """POST the payload as the body; the child's argv and environment are the local launcher's."""
    body = {"job_type": "metadata_extraction", **case.payload}
    r = client.post("/jobs/create", json=body, headers=AUTH)
    if r.status_code != 200:
        raise PayloadError(r.json()["error"])
    job = client.store.get(r.json()["job_id"])
    argv, env = client.launcher.command(job)
    return resolve_request(argv[3:], {**env, **case.env})


def _fields(request: Any, names: Any) -> dict[str, Any]:
    return {name: getattr(request, name) for name in names}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_entry_point_gives_the_same_answer(case, api):
    answers: dict[str, Any] = {}
    forms = dict(ENTRY_POINTS)
    # the API has no flags (the body is a payload) and requires a top-level workflow_id (the contract)
    if not case.explicit and not case.env and "workflow_id" in case.payload:
        forms["api"] = lambda c: via_api(api, c)
    for name, form in forms.items():
        try:
            answers[name] = form(case)
        except PayloadError as exc:
            answers[name] = exc
    if case.expect is None:
        refused = {n: a for n, a in answers.items() if not isinstance(a, PayloadError) or case.error not in str(a)}
        assert not refused, f"{case.name}: these entry points did not refuse naming {case.error}: {refused}"
        return
    for name, request in answers.items():
        assert not isinstance(request, PayloadError), f"{case.name}: {name} refused: {request}"
        assert _fields(request, case.expect) == case.expect, f"{case.name}: {name}"
    reference = _fields(answers["job_env"], ("workflow_id", "source_id", "data_source_path", "data_source_type",
                                              "tenant_id", "include", "exclude", "csv_header", "write_to_db"))
    for name, request in answers.items():
        assert _fields(request, reference) == reference, f"{case.name}: {name} differs from job_env"


def test_the_table_covers_every_entry_point_and_every_level():
    assert {"job_env", "job_param", "databricks", "extract"} <= set(ENTRY_POINTS)
    assert any(not c.explicit and not c.env and c.expect for c in CASES)  # the API's cases
    kinds = {("explicit" if c.explicit else "payload") + ("+env" if c.env else "") for c in CASES}
    assert {"explicit", "payload", "payload+env", "explicit+env"} <= kinds


def test_the_readme_table_names_every_request_field():
    from executor.payload import REQUEST_FIELDS

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Where each request field comes from", 1)[1].split("\n### ", 1)[0]
    missing = [name for name in REQUEST_FIELDS if f"`{name}`" not in section]
    assert missing == []
