"""The bundle checked by the official Databricks CLI against `fakews`, the CLI's own fake workspace
on 127.0.0.1 (both in <repo>/../shared/tools/databricks on the project's build machines; the test
skips elsewhere). The CLI validates databricks.yml strictly for every target, builds the wheel,
uploads it and the bundle files, creates the job, and starts a run; the test then reads back what
the fake workspace received: the job's settings, the uploaded files, the run's parameters.

The bundle is deployed from a copy of the checkout (tracked and not-ignored files only, as a clean
clone would have): deploying writes dist/ and .databricks/, and the failure-email test writes
.databricks/bundle/<target>/variable-overrides.json, none of which may touch the working tree.

fakews would also execute a python_wheel_task locally with `uv`; it is started with uv kept
offline (no network), so a run is recorded with its parameters and its task fails at once there.
The run is started with --no-wait and only what the workspace recorded is asserted."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
# <repo>/../shared/tools/databricks; NUVYN_DATABRICKS_TOOLS names the folder for a checkout elsewhere
# (a git worktree whose parent has no shared/).
TOOLS = Path(os.environ.get("NUVYN_DATABRICKS_TOOLS") or REPO.parent / "shared" / "tools" / "databricks")
CLI = TOOLS / "databricks"
FAKEWS = TOOLS / "fakews"

pytestmark = [pytest.mark.lane_a_only, pytest.mark.skipif(
    not (CLI.is_file() and FAKEWS.is_file()),
    reason=f"{TOOLS} is absent: the official Databricks CLI and its fake workspace (fakews) are only on "
           "the project's build machines (shared/ beside the checkout)",
)]

SP = "2f1e5c4a-7b0d-4c3e-9a61-8d2b7e4f1a90"  # a service principal's application id (format only)
BACKEND = "7c1d2e3f-5a6b-4c8d-9e0f-1a2b3c4d5e6f"  # the backend's service principal (format only)
SPARK_4 = "17.3.x-scala2.13"
USER = "tester@databricks.com"  # the identity fakews authenticates every token as
DEV_ROOT = f"/Workspace/Users/{USER}/.bundle/nuvyn-executor/dev"
PAYLOAD = {"workflow_id": "wf_cli", "source_id": "src_cli",
           "data_source_path": "abfss://raw@acct.dfs.core.windows.net/sales", "data_source_type": "adls_gen2",
           "job_metadata": {"workflow_id": "wf_cli", "source_id": "src_cli"}, "note": "quotes \" and spaces"}
EMAILS = ["ops@example.com", "data-team@example.com"]
TASK_PARAMETERS = ["--payload={{job.parameters.payload}}", "--run-id={{job.run_id}}",
                   "--refresh={{job.parameters.refresh}}", "--write-to-db", "--log-format=json",
                   "--metadata-catalog=hive_metastore", "--metadata-schema=_executor_metadata",
                   "--azure-sp-secret-scope=", "--azure-authority-host=", "--run-timeout-s=14400"]
# The job's parameters: the payload, and refresh (empty: the payload's refresh, else full).
JOB_PARAMETERS = [{"name": "payload", "default": ""}, {"name": "refresh", "default": ""}]
IGNORED_DIRS = {".git", ".tools", ".databricks", ".nuvyn", ".pytest_cache", ".ruff_cache", ".bench", "dist",
                "build", "node_modules", "__pycache__", "spark-warehouse", "metastore_db"}


def checkout_files() -> list[str]:
    """The files a clean clone has: git's tracked and untracked-but-not-ignored files."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                             capture_output=True, check=True, timeout=60).stdout.decode()
        return sorted(f for f in out.split("\0") if f and (REPO / f).is_file() and not f.startswith(".tools"))
    except (OSError, subprocess.SubprocessError):
        files = []
        for path in REPO.rglob("*"):
            rel = path.relative_to(REPO)
            if path.is_file() and not (set(rel.parts) & IGNORED_DIRS) and not rel.parts[0].startswith(".venv") \
                    and not rel.name.endswith((".pyc", ".whl")) and ".egg-info" not in str(rel):
                files.append(str(rel))
        return sorted(files)


def copy_checkout(dest: Path) -> Path:
    for rel in checkout_files():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, dest / rel)
    return dest


@pytest.fixture(scope="module")
def fakews(tmp_path_factory) -> str:
    d = tmp_path_factory.mktemp("fakews")
    url_file = d / "url"
    env = {**os.environ, "UV_OFFLINE": "1", "UV_NO_INDEX": "1", "UV_PYTHON_DOWNLOADS": "never"}
    with open(d / "fakews.log", "wb") as log:
        proc = subprocess.Popen([str(FAKEWS), str(url_file)], stdout=subprocess.DEVNULL, stderr=log, env=env,
                                cwd=d)
    try:
        deadline = time.monotonic() + 60
        while not (url_file.is_file() and url_file.read_text().startswith("http://127.0.0.1:")):
            assert proc.poll() is None, f"fakews exited: {(d / 'fakews.log').read_text()}"
            assert time.monotonic() < deadline, "fakews wrote no URL within 60 s"
            time.sleep(0.1)
        yield url_file.read_text().strip()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli-home")  # no ~/.databrickscfg profile can interfere


def cli(fakews_url: str, home: Path, cwd: Path, *args: str, check: bool = True,
        env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABRICKS_", "BUNDLE_VAR_"))}
    env.update(env_extra or {})
    env.update(DATABRICKS_HOST=fakews_url, DATABRICKS_TOKEN="dapi-fake", HOME=str(home),
               # the artifact step runs `python3 scripts/build_wheel.py`: this interpreter (it has pip)
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    done = subprocess.run([str(CLI), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert done.returncode == 0, f"databricks {' '.join(args)} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def cli_json(fakews_url: str, home: Path, cwd: Path, *args: str) -> Any:
    return json.loads(cli(fakews_url, home, cwd, *args, "-o", "json").stdout)


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory) -> Path:
    return copy_checkout(tmp_path_factory.mktemp("checkout"))


@pytest.fixture(scope="module")
def run(fakews, home, bundle_dir):
    def _run(*args: str, check: bool = True, cwd: Path | None = None, env_extra: dict[str, str] | None = None):
        return cli(fakews, home, cwd or bundle_dir, *args, check=check, env_extra=env_extra)
    return _run


@pytest.fixture(scope="module")
def run_json(fakews, home, bundle_dir):
    def _run(*args: str, cwd: Path | None = None):
        return cli_json(fakews, home, cwd or bundle_dir, *args)
    return _run


PRINCIPALS = ["--var", f"prod_service_principal={SP}", "--var", f"backend_principal={BACKEND}"]
TARGETS = [
    ("dev", []),
    ("dev", ["--var", f"spark_version={SPARK_4}"]),
    ("prod", PRINCIPALS),
    ("prod", [*PRINCIPALS, "--var", f"spark_version={SPARK_4}"]),
    ("prod_wheelhouse", PRINCIPALS),
    ("prod_wheelhouse", [*PRINCIPALS, "--var", f"spark_version={SPARK_4}"]),
    ("serverless", PRINCIPALS),
    ("serverless", [*PRINCIPALS, "--var", "serverless_environment_version=2", "--var", "metadata_catalog=main"]),
    ("serverless_wheelhouse", PRINCIPALS),
]


def _target_id(target: str, extra: list[str]) -> str:
    text = " ".join(extra)
    return target + ("-17.3" if SPARK_4 in text else "") + ("-env2" if "environment_version=2" in text else "")


@pytest.mark.parametrize(("target", "extra"), TARGETS, ids=[_target_id(t, e) for t, e in TARGETS])
def test_validate_strict_is_clean(run, run_json, target, extra):
    done = run("bundle", "validate", "-t", target, "--strict", *extra)
    assert "Validation OK!" in done.stdout
    assert "Warning" not in done.stdout + done.stderr and "Error" not in done.stdout + done.stderr
    assert "Recommendation" not in done.stdout + done.stderr
    config = run_json("bundle", "validate", "-t", target, "--strict", *extra)
    root = config["workspace"]["root_path"]
    assert root == f"/Workspace/Users/{USER}/.bundle/nuvyn-executor/{target}"  # the principal's home
    job = config["resources"]["jobs"]["metadata_extraction"]
    (task,) = job["tasks"]
    params = task["python_wheel_task"]["parameters"]
    catalog = "main" if "metadata_catalog=main" in " ".join(extra) else "hive_metastore"
    assert f"--metadata-catalog={catalog}" in params and "--metadata-schema=_executor_metadata" in params
    assert "--log-format=json" in params
    if target.startswith("serverless"):
        # serverless: an environment, no cluster, no task libraries
        assert not job.get("job_clusters") and "job_cluster_key" not in task and "libraries" not in task
        (env,) = job["environments"]
        assert task["environment_key"] == env["environment_key"]
        version = "2" if "environment_version=2" in " ".join(extra) else "4"
        assert env["spec"]["environment_version"] == version and "client" not in env["spec"]
    else:
        (cluster,) = job["job_clusters"]
        assert task["job_cluster_key"] == cluster["job_cluster_key"] and "environment_key" not in task
        assert cluster["new_cluster"]["spark_version"] == (SPARK_4 if SPARK_4 in " ".join(extra)
                                                           else "15.4.x-scala2.12")
    if target == "dev":
        assert "run_as" not in config and "permissions" not in job
        assert task["libraries"] == [{"whl": "dist/*.whl"}]
    else:
        assert config["run_as"] == {"service_principal_name": SP}
        assert config["bundle"]["mode"] == "production"
        levels = {(p.get("service_principal_name") or p.get("user_name"), p["level"]) for p in job["permissions"]}
        assert {(BACKEND, "CAN_MANAGE_RUN"), (SP, "CAN_VIEW"), (USER, "IS_OWNER")} == levels
    if target == "prod_wheelhouse":
        assert task["libraries"] == [{"requirements": f"{root}/files/wheelhouse/requirements.txt"}]
        build = config["artifacts"]["nuvyn_executor_wheelhouse"]["build"]
        assert build.endswith(f"--spark-version {cluster['new_cluster']['spark_version']}")
    if target == "serverless_wheelhouse":
        assert env["spec"]["dependencies"] == [f"-r {root}/files/wheelhouse/requirements.txt"]
        build = config["artifacts"]["nuvyn_executor_wheelhouse"]["build"]
        assert build.endswith("--serverless-environment 4")


@pytest.mark.parametrize("target", ["prod", "prod_wheelhouse", "serverless", "serverless_wheelhouse"])
def test_prod_refuses_to_validate_without_the_service_principal(run, target):
    done = run("bundle", "validate", "-t", target, "--strict", check=False)
    assert done.returncode != 0
    assert "run_as section must specify exactly one identity" in done.stdout + done.stderr


def test_failure_emails_cannot_come_from_var_or_the_environment(run):
    """Why docs/DEPLOY.md no longer says --var 'failure_emails=[...]'."""
    done = run("bundle", "validate", "-t", "dev", "--var", "failure_emails=[ops@example.com]", check=False)
    assert done.returncode != 0
    assert "complex type via --var flag is not supported: failure_emails" in done.stderr
    done = run("bundle", "validate", "-t", "dev", check=False,
               env_extra={"BUNDLE_VAR_failure_emails": json.dumps(EMAILS)})
    assert done.returncode != 0
    assert "(BUNDLE_VAR_failure_emails) is not supported for complex variable" in done.stderr


def test_failure_emails_from_a_target_override(tmp_path, run_json):
    copy = copy_checkout(tmp_path / "override")
    yml = copy / "databricks.yml"
    text = yml.read_text()
    anchor = "  prod:\n    mode: production\n"
    assert text.count(anchor) == 1
    override = anchor + "    variables:\n      failure_emails:\n" + "".join(f"        - {e}\n" for e in EMAILS)
    yml.write_text(text.replace(anchor, override))
    prod = run_json("bundle", "validate", "-t", "prod", "--strict", *PRINCIPALS, cwd=copy)
    assert prod["resources"]["jobs"]["metadata_extraction"]["email_notifications"]["on_failure"] == EMAILS
    dev = run_json("bundle", "validate", "-t", "dev", "--strict", cwd=copy)
    assert dev["resources"]["jobs"]["metadata_extraction"]["email_notifications"]["on_failure"] == []


@pytest.fixture(scope="module")
def deployed(run, run_json, bundle_dir) -> dict[str, Any]:
    """`bundle deploy -t dev` with the failure emails in variable-overrides.json."""
    overrides = bundle_dir / ".databricks" / "bundle" / "dev" / "variable-overrides.json"
    overrides.parent.mkdir(parents=True, exist_ok=True)
    overrides.write_text(json.dumps({"failure_emails": EMAILS}))
    done = run("bundle", "deploy", "-t", "dev")
    assert "Resources: 1 created" in done.stderr and "Files: 2 uploaded" in done.stderr
    summary = run_json("bundle", "summary", "-t", "dev")
    job_id = summary["resources"]["jobs"]["metadata_extraction"]["id"]
    job = run_json("jobs", "get", str(job_id))
    return {"summary": summary, "job_id": int(job_id), "job": job}


def test_deploy_creates_the_job_with_the_expected_settings(deployed, bundle_dir):
    job = deployed["job"]
    settings = job["settings"]
    assert int(job["job_id"]) == deployed["job_id"]
    assert settings["name"] == "[dev tester] nuvyn-executor-metadata-extraction"
    assert settings["parameters"] == JOB_PARAMETERS
    assert settings["max_concurrent_runs"] == 100 and settings["queue"] == {"enabled": True}
    assert settings["timeout_seconds"] == 14400
    assert settings["email_notifications"] == {"on_failure": EMAILS}  # from variable-overrides.json
    (cluster,) = settings["job_clusters"]
    nc = cluster["new_cluster"]
    assert nc["spark_version"] == "15.4.x-scala2.12" and nc["data_security_mode"] == "SINGLE_USER"
    assert nc["spark_env_vars"] == {"NUVYN_JOB_PAYLOAD": ""}
    (task,) = settings["tasks"]
    assert task["job_cluster_key"] == cluster["job_cluster_key"]
    assert task["python_wheel_task"] == {
        "package_name": "nuvyn_executor", "entry_point": "nuvyn-executor-job",
        "parameters": TASK_PARAMETERS}
    assert (task["max_retries"], task["min_retry_interval_millis"], task["retry_on_timeout"]) == (2, 60000, False)
    (wheel,) = (bundle_dir / "dist").glob("nuvyn_executor-*-py3-none-any.whl")
    assert task["libraries"] == [{"whl": f"{DEV_ROOT}/artifacts/.internal/{wheel.name}"}]


def test_the_uploaded_wheel_is_the_built_one(deployed, run, bundle_dir, tmp_path):
    (wheel,) = (bundle_dir / "dist").glob("nuvyn_executor-*-py3-none-any.whl")
    out = tmp_path / wheel.name
    run("workspace", "export", f"{DEV_ROOT}/artifacts/.internal/{wheel.name}", "--format", "AUTO", "--file", str(out))
    assert hashlib.sha256(out.read_bytes()).hexdigest() == hashlib.sha256(wheel.read_bytes()).hexdigest()


def workspace_files(run_json, root: str) -> list[str]:
    found, todo = [], [root]
    while todo:
        for obj in run_json("workspace", "list", todo.pop()):
            if obj["object_type"] == "DIRECTORY":
                todo.append(obj["path"])
            else:
                found.append(obj["path"][len(root) + 1:])
    return sorted(found)


def test_sync_uploads_only_the_bundle_configuration(deployed, run_json, bundle_dir):
    uploaded = workspace_files(run_json, f"{DEV_ROOT}/files")
    assert uploaded == ["databricks.yml", "jobs/metadata_extraction.job.yml"]
    local = checkout_files()
    # what the sync left out is real: the checkout has sources, tests, bench, samples, docs
    for folder in ("executor/", "tests/", "bench/", "samples/", "docs/", "scripts/"):
        assert any(f.startswith(folder) for f in local), folder


def test_summary_names_the_deployed_job(deployed):
    summary = deployed["summary"]
    assert summary["bundle"]["target"] == "dev" and summary["workspace"]["root_path"] == DEV_ROOT
    job = summary["resources"]["jobs"]["metadata_extraction"]
    assert int(job["id"]) == deployed["job_id"]
    assert str(deployed["job_id"]) in job["url"]


def test_run_passes_the_json_payload_parameter_unchanged(deployed, run, run_json):
    payload = json.dumps(PAYLOAD)
    run("bundle", "run", "-t", "dev", "--no-wait", "metadata_extraction", "--params", f"payload={payload}")
    runs = run_json("jobs", "list-runs", "--job-id", str(deployed["job_id"]))
    assert len(runs) == 1
    got = run_json("jobs", "get-run", str(runs[0]["run_id"]))
    assert int(got["job_id"]) == deployed["job_id"]
    params = {p["name"]: p for p in got["job_parameters"]}
    assert sorted(params) == ["payload", "refresh"]
    assert params["payload"]["value"] == payload and json.loads(params["payload"]["value"]) == PAYLOAD
    assert (params["refresh"].get("value") or "") == ""  # not given: empty (the API omits empty strings)
    assert [t["task_key"] for t in got["tasks"]] == ["extract_metadata"]


SERVERLESS_ROOT = f"/Workspace/Users/{USER}/.bundle/nuvyn-executor/serverless"


@pytest.fixture(scope="module")
def deployed_serverless(run, run_json) -> dict[str, Any]:
    """`bundle deploy -t serverless` with a Unity Catalog catalog for the metadata tables."""
    extra = [*PRINCIPALS, "--var", "metadata_catalog=main"]
    done = run("bundle", "deploy", "-t", "serverless", *extra)
    assert "Resources: 2 created" in done.stderr  # the job and its permissions
    summary = run_json("bundle", "summary", "-t", "serverless", *extra)
    job_id = summary["resources"]["jobs"]["metadata_extraction"]["id"]
    return {"job_id": int(job_id), "job": run_json("jobs", "get", str(job_id))}


def test_serverless_deploy_has_an_environment_and_no_cluster(deployed_serverless):
    settings = deployed_serverless["job"]["settings"]
    assert settings["name"] == "nuvyn-executor-metadata-extraction"
    assert not settings.get("job_clusters")
    (task,) = settings["tasks"]
    assert task["environment_key"] == "executor"
    assert not {"job_cluster_key", "new_cluster", "existing_cluster_id", "libraries"} & set(task)
    (env,) = settings["environments"]
    assert env["environment_key"] == "executor" and env["spec"]["environment_version"] == "4"
    (dep,) = env["spec"]["dependencies"]
    assert dep.startswith(f"{SERVERLESS_ROOT}/artifacts/.internal/nuvyn_executor-") and dep.endswith(".whl")
    assert task["python_wheel_task"]["parameters"] == [
        p.replace("hive_metastore", "main") for p in TASK_PARAMETERS]
    assert settings["run_as"] == {"service_principal_name": SP}
    assert settings["parameters"] == JOB_PARAMETERS


def _acl(run_json, kind: str, object_id: str) -> dict[str, set[str]]:
    acl = run_json("permissions", "get", kind, object_id)["access_control_list"]
    return {(a.get("service_principal_name") or a.get("user_name") or a.get("group_name")):
            {p["permission_level"] for p in a["all_permissions"] if not p.get("inherited")} for a in acl}


def test_serverless_permissions_let_the_backend_run_and_the_run_as_principal_read(deployed_serverless, run_json):
    job_acl = _acl(run_json, "jobs", str(deployed_serverless["job_id"]))
    assert job_acl[BACKEND] == {"CAN_MANAGE_RUN"} and job_acl[SP] == {"CAN_VIEW"} and job_acl[USER] == {"IS_OWNER"}
    root = run_json("workspace", "get-status", SERVERLESS_ROOT)
    folder_acl = _acl(run_json, "directories", str(root["object_id"]))
    assert folder_acl[SP] == {"CAN_READ"}  # the run-as principal reads the deployed wheel
    assert folder_acl[BACKEND] == {"CAN_RUN"}
