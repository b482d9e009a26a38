"""The Databricks bundle, checked offline and without the CLI (a user's machine has neither the
CLI nor a workspace; tests/integration/test_databricks_cli.py runs the official CLI against its fake
workspace where both are available). This test loads the YAML and checks every reference the CLI
and the job would follow: included files, the artifact's build and path, setup.py, the wheel's
distribution name, the entry point, job parameters used by the task, variables, the prod targets'
root path and run_as, the wheelhouse option, and the job's fields against the databricks-sdk
JobSettings model (a misspelt key is dropped by from_dict and shows up here)."""

from __future__ import annotations

import ast
import glob
import importlib
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest

from executor.errors import PayloadError

yaml = pytest.importorskip("yaml")

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "databricks.yml"
VAR_RE = re.compile(r"\$\{var\.([A-Za-z0-9_]+)\}")
BUNDLE_RE = re.compile(r"\$\{bundle\.(name|target)\}")


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def bundle() -> dict[str, Any]:
    return load(BUNDLE)


@pytest.fixture(scope="module")
def included(bundle) -> list[Path]:
    files: list[Path] = []
    for pattern in bundle["include"]:
        matches = sorted(Path(p) for p in glob.glob(str(REPO / pattern)))
        assert matches, f"include pattern {pattern!r} matches no file"
        files.extend(matches)
    return files


def setup_py_call() -> dict[str, ast.AST]:
    tree = ast.parse((REPO / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setup":
            return {kw.arg: kw.value for kw in node.keywords}
    raise AssertionError("setup.py has no setup(...) call")


def wheel_distribution_name() -> str:
    name = ast.literal_eval(setup_py_call()["name"])
    return re.sub(r"[-_.]+", "_", name).lower()  # the wheel file name's normalization (PEP 427/503)


def console_scripts() -> dict[str, str]:
    eps = ast.literal_eval(setup_py_call()["entry_points"])
    return dict(line.replace(" ", "").split("=", 1) for line in eps["console_scripts"])


def resolve(value: Any, variables: dict[str, Any], target: str, name: str) -> Any:
    """Substitute ${var.x} (whole value: any type; inside a string: text) and ${bundle.*}."""
    if isinstance(value, dict):
        return {k: resolve(v, variables, target, name) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, variables, target, name) for v in value]
    if isinstance(value, str):
        whole = VAR_RE.fullmatch(value)
        if whole:
            return variables[whole.group(1)]
        value = VAR_RE.sub(lambda m: str(variables[m.group(1)]), value)
        return BUNDLE_RE.sub(lambda m: name if m.group(1) == "name" else target, value)
    return value


def jobs_of(files: list[Path]) -> dict[str, tuple[Path, dict[str, Any]]]:
    out = {}
    for f in files:
        for key, job in (load(f).get("resources", {}).get("jobs") or {}).items():
            out[key] = (f, job)
    return out


def the_job(included) -> tuple[Path, dict[str, Any]]:
    return jobs_of(included)["metadata_extraction"]


def _merge_by(base: list[dict], extra: list[dict], key: str) -> list[dict]:
    """The CLI's target override of a keyed list (tasks by task_key, job_clusters by job_cluster_key,
    environments by environment_key): entries with the same key are merged, new ones appended."""
    out = [dict(b) for b in base]
    for e in extra:
        same = [o for o in out if o.get(key) == e.get(key)]
        if same:
            same[0].update(e)
        else:
            out.append(dict(e))
    return out


KEYS = {"tasks": "task_key", "job_clusters": "job_cluster_key", "environments": "environment_key"}


def job_for(bundle, included, target: str) -> dict[str, Any]:
    """The job as the CLI sees it in `target`: the job file with the target's resources merged in."""
    _, job = the_job(included)
    job = dict(job)
    over = (((bundle["targets"][target].get("resources") or {}).get("jobs") or {}).get("metadata_extraction") or {})
    for field_name, value in over.items():
        job[field_name] = _merge_by(job.get(field_name) or [], value, KEYS[field_name]) if field_name in KEYS else value
    return job


def variables_for(bundle, target: str) -> dict[str, Any]:
    return {**{k: v.get("default") for k, v in bundle["variables"].items()},
            **(bundle["targets"][target].get("variables") or {})}


CLASSIC_TARGETS = ("dev", "prod", "prod_wheelhouse")
SERVERLESS_TARGETS = ("serverless", "serverless_wheelhouse")


def test_bundle_has_name_targets_and_no_hard_coded_host(bundle):
    assert bundle["bundle"]["name"] == "nuvyn-executor"
    assert set(bundle["targets"]) >= {"dev", "prod"}
    assert bundle["targets"]["dev"].get("default") is True
    hosts = [bundle.get("workspace", {}).get("host")]
    hosts += [t.get("workspace", {}).get("host") for t in bundle["targets"].values()]
    assert hosts == [None] * len(hosts), "the workspace host comes from DATABRICKS_HOST / a profile"


def test_every_variable_used_is_declared_with_a_default(bundle, included):
    declared = bundle["variables"]
    texts = [BUNDLE.read_text()] + [f.read_text() for f in included]
    used = {m for t in texts for m in VAR_RE.findall(t)}
    assert used <= set(declared), f"undeclared: {used - set(declared)}"
    for name in used:
        assert "default" in declared[name], f"{name} has no default: validate would need --var"
    assert declared["spark_version"]["default"] == "15.4.x-scala2.12"
    assert "17.3.x-scala2.13" in declared["spark_version"]["description"]
    for target in bundle["targets"].values():
        assert set(target.get("variables") or {}) <= set(declared)


def test_artifact_builds_the_wheel_from_setup_py(bundle):
    (artifact,) = bundle["artifacts"].values()
    assert artifact["type"] == "whl"
    root = (REPO / artifact["path"]).resolve()
    assert root == REPO and (root / "setup.py").is_file()
    cmd = artifact["build"].split()
    assert cmd[:2] == ["python3", "scripts/build_wheel.py"]
    script = (root / cmd[1]).read_text()
    assert '"pip", "wheel", ".", "--no-deps", "-w"' in script and '"dist"' in script
    assert f'glob("{wheel_distribution_name()}-*.whl")' in script
    assert not artifact.get("files"), "the CLI's default, <path>/dist/*.whl, is what the job installs"


def test_task_runs_the_wheel_entry_point(bundle, included):
    _, job = the_job(included)
    (task,) = job["tasks"]
    wheel_task = task["python_wheel_task"]
    assert wheel_task["package_name"] == wheel_distribution_name() == "nuvyn_executor"
    scripts = console_scripts()
    assert wheel_task["entry_point"] in scripts
    module, func = scripts[wheel_task["entry_point"]].split(":")
    # job_main, not main: the wheel launcher ignores return values, so failures must raise.
    assert (module, func) == ("executor.main", "job_main")
    assert callable(getattr(importlib.import_module(module), func))
    # Compute is per target: the job file names none.
    assert not {"job_cluster_key", "environment_key", "libraries"} & set(task) and "job_clusters" not in job
    # The classic targets' libraries come from the variable cluster_libraries; its default (paths relative
    # to databricks.yml, where the value is written) is the wheel the artifact step builds.
    for target in CLASSIC_TARGETS:
        (task,) = job_for(bundle, included, target)["tasks"]
        assert task["libraries"] == "${var.cluster_libraries}", target
    (lib,) = bundle["variables"]["cluster_libraries"]["default"]
    whl = (REPO / lib["whl"]).resolve()
    assert whl.parent == REPO / "dist" and whl.name == "*.whl"
    (dep,) = bundle["variables"]["serverless_dependencies"]["default"]
    assert (REPO / dep).resolve() == whl  # the serverless environment installs the same wheel


@pytest.mark.parametrize("target", CLASSIC_TARGETS)
def test_classic_targets_run_on_a_job_cluster(bundle, included, target):
    job = job_for(bundle, included, target)
    (cluster,) = job["job_clusters"]
    (task,) = job["tasks"]
    assert task["job_cluster_key"] == cluster["job_cluster_key"] and "environment_key" not in task
    assert "environments" not in job
    assert cluster["new_cluster"]["data_security_mode"] == "${var.data_security_mode}"
    assert bundle["variables"]["data_security_mode"]["default"] == "SINGLE_USER"


@pytest.mark.parametrize("target", SERVERLESS_TARGETS)
def test_serverless_targets_have_an_environment_and_no_cluster(bundle, included, target):
    """Serverless: the task names an environment (environment_key, required for a python_wheel_task on
    serverless) whose spec installs the wheel; no cluster, no libraries (refused on serverless)."""
    job = job_for(bundle, included, target)
    (task,) = job["tasks"]
    (env,) = job["environments"]
    assert task["environment_key"] == env["environment_key"]
    assert not {"job_cluster_key", "new_cluster", "existing_cluster_id", "libraries"} & set(task)
    assert "job_clusters" not in job
    spec = env["spec"]
    # environment_version, not the deprecated `client`
    assert set(spec) == {"environment_version", "dependencies"}
    assert spec["environment_version"] == "${var.serverless_environment_version}"
    assert str(bundle["variables"]["serverless_environment_version"]["default"]) in ("2", "3", "4")
    deps = variables_for(bundle, target)["serverless_dependencies"]
    if target == "serverless":
        assert deps == ["./dist/*.whl"]
    else:
        assert deps == ["-r ${workspace.file_path}/wheelhouse/requirements.txt"]
        (artifact,) = [a for k, a in bundle["targets"][target]["artifacts"].items() if "wheelhouse" in k]
        assert artifact["build"] == ("python3 scripts/build_wheelhouse.py --serverless-environment "
                                     "${var.serverless_environment_version}")


def test_task_parameters_reference_declared_job_parameters(bundle, included):
    _, job = the_job(included)
    (task,) = job["tasks"]
    params = task["python_wheel_task"]["parameters"]
    declared = {p["name"]: p for p in job["parameters"]}
    used = set(re.findall(r"\{\{job\.parameters\.([A-Za-z0-9_]+)\}\}", " ".join(params)))
    assert used == {"payload", "refresh"} and used <= set(declared)
    assert declared["payload"]["default"] == "${var.default_payload}"
    assert declared["refresh"]["default"] == ""  # empty: the payload's refresh, else full
    assert bundle["variables"]["default_payload"]["default"] == ""
    assert params == ["--payload={{job.parameters.payload}}", "--run-id={{job.run_id}}",
                      "--refresh={{job.parameters.refresh}}", "--write-to-db",
                      "--log-format=json", "--metadata-catalog=${var.metadata_catalog}",
                      "--metadata-schema=${var.metadata_schema}", "--azure-sp-secret-scope=${var.azure_sp_secret_scope}",
                      "--azure-authority-host=${var.azure_authority_host}",
                      "--run-timeout-s=${var.timeout_seconds}"]


def test_every_setting_the_job_needs_is_a_task_parameter(bundle, included):
    """Serverless tasks have no environment variables: the catalog, schema, log format and payload reach
    the job as parameters on every target, and each parameter is one the entry point takes."""
    from executor.main import SETTING_PARAMETERS, argument_parser, settings_env
    from executor.settings import Settings

    for target in (*CLASSIC_TARGETS, *SERVERLESS_TARGETS):
        job = resolve(job_for(bundle, included, target), variables_for(bundle, target), target, "nuvyn-executor")
        (task,) = job["tasks"]
        argv = databricks_argv(task["python_wheel_task"]["parameters"], '{"workflow_id":"wf"}', "42")
        args = argument_parser().parse_args(argv)  # every parameter is known to the entry point
        assert args.log_format == "json"
        settings = Settings.from_env(settings_env(argv, {"DATABRICKS_RUNTIME_VERSION": "15.4"}))
        assert (settings.catalog, settings.schema) == ("hive_metastore", "_executor_metadata"), target
        assert settings.azure_sp_secret_scope is None  # the empty variable is ignored
        assert settings.azure_authority_host == "https://login.microsoftonline.com"  # empty: the default
        assert settings.run_timeout_s == job["timeout_seconds"] == 14400  # the age rule is the job's timeout
    assert {"metadata_catalog", "metadata_schema", "azure_sp_secret_scope", "azure_authority_host"} <= set(SETTING_PARAMETERS)
    assert bundle["variables"]["metadata_catalog"]["default"] == "hive_metastore"
    assert bundle["variables"]["metadata_schema"]["default"] == "_executor_metadata"
    # a Unity Catalog catalog given as the variable reaches the settings
    job = resolve(job_for(bundle, included, "serverless"),
                  {**variables_for(bundle, "serverless"), "metadata_catalog": "main"}, "serverless", "nuvyn-executor")
    argv = databricks_argv(job["tasks"][0]["python_wheel_task"]["parameters"], "{}", "1")
    assert Settings.from_env(settings_env(argv, {"NUVYN_METADATA_CATALOG": "ignored"})).catalog == "main"


def databricks_argv(params: list[str], payload: str, run_id: str, refresh: str = "") -> list[str]:
    return [p.replace("{{job.parameters.payload}}", payload).replace("{{job.run_id}}", run_id)
            .replace("{{job.parameters.refresh}}", refresh) for p in params]


def test_the_task_arguments_parse_as_the_backend_triggers_them(included):
    """What main() gets on the cluster for run_now(job_parameters={"payload": ...})."""
    from executor.main import resolve_request

    _, job = the_job(included)
    params = resolve(job, {k: v.get("default") for k, v in load(BUNDLE)["variables"].items()}, "dev",
                     "nuvyn-executor")["tasks"][0]["python_wheel_task"]["parameters"]
    payload = {"job_type": "metadata_extraction", "data_source_path": "abfss://c@acct.dfs.core.windows.net/raw",
               "data_source_type": "adls_gen2", "workflow_id": "wf_top",
               "job_metadata": {"workflow_id": "wf_1", "source_id": "src_1"}}
    env = {"NUVYN_JOB_PAYLOAD": json.dumps({"workflow_id": "from_env", "data_source_path": "/x"})}
    req = resolve_request(databricks_argv(params, json.dumps(payload), "734219876543"), env)
    assert (req.workflow_id, req.source_id, req.run_id) == ("wf_1", "src_1", "734219876543")
    assert req.write_to_db and req.data_source_type == "adls_gen2"
    assert req.data_source_path == payload["data_source_path"]
    # An empty parameter (the default) falls back to the cluster's NUVYN_JOB_PAYLOAD.
    req = resolve_request(databricks_argv(params, "", "42"), env)
    assert (req.workflow_id, req.data_source_path, req.run_id) == ("from_env", "/x", "42")
    assert req.refresh == "full"  # the refresh parameter's default (empty): the payload's, else full
    req = resolve_request(databricks_argv(params, json.dumps({**payload, "refresh": "full"}), "43", "incremental"), env)
    assert req.refresh == "incremental"  # the job parameter is an explicit value: it wins over the payload
    with pytest.raises(PayloadError, match="refresh 'sometimes' is invalid"):
        resolve_request(databricks_argv(params, json.dumps(payload), "44", "sometimes"), env)


def test_job_settings_match_the_jobs_api_model(bundle, included):
    """Round-trip through databricks-sdk's JobSettings: keys it does not know are dropped."""
    jobs = pytest.importorskip("databricks.sdk.service.jobs")
    for target in bundle["targets"]:
        for key in jobs_of(included):
            resolved = resolve(job_for(bundle, included, target), variables_for(bundle, target),
                               target, bundle["bundle"]["name"])
            # `libraries` at task level are Jobs API fields too; the wheel path is the bundle's.
            settings = jobs.JobSettings.from_dict(resolved)
            assert _normalize(settings.as_dict()) == _normalize(resolved), key


def _normalize(value: Any) -> Any:
    if isinstance(value, dict):
        items = {k: _normalize(v) for k, v in value.items()}
        return {k: v for k, v in items.items() if v not in (None, [], {})}
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return str(value)  # from_dict keeps ints; YAML variables may arrive as text
    return value


def test_job_resources_for_many_workflows_and_safe_retries(bundle, included):
    job = resolve(job_for(bundle, included, "dev"), variables_for(bundle, "dev"), "dev", "nuvyn-executor")
    assert job["max_concurrent_runs"] >= 100
    assert job["queue"] == {"enabled": True}
    assert job["timeout_seconds"] > 0
    assert job["email_notifications"]["on_failure"] == []
    (task,) = job["tasks"]
    assert task["max_retries"] >= 1 and task["min_retry_interval_millis"] >= 10_000
    assert task["retry_on_timeout"] is False
    (cluster,) = job["job_clusters"]
    assert task["job_cluster_key"] == cluster["job_cluster_key"]
    nc = cluster["new_cluster"]
    assert nc["spark_version"] == "15.4.x-scala2.12"
    assert nc["spark_env_vars"]["NUVYN_JOB_PAYLOAD"] == ""


PROD_TARGETS = ("prod", "prod_wheelhouse", "serverless", "serverless_wheelhouse")


@pytest.mark.parametrize("name", PROD_TARGETS)
def test_prod_targets_deploy_to_the_principals_home_and_run_as_a_service_principal(bundle, name):
    target = bundle["targets"][name]
    assert target["mode"] == "production"
    root = target["workspace"]["root_path"]
    # Not /Workspace/Shared: every workspace user could replace the wheel the job installs.
    assert root == "/Workspace/Users/${workspace.current_user.userName}/.bundle/${bundle.name}/${bundle.target}"
    assert target["run_as"] == {"service_principal_name": "${var.prod_service_principal}"}
    # Empty by default, so dev validates without it; the CLI refuses prod with an empty run_as.
    assert bundle["variables"]["prod_service_principal"]["default"] == ""
    assert "run_as" not in bundle["targets"]["dev"]


@pytest.mark.parametrize("name", PROD_TARGETS)
def test_prod_targets_grant_the_backend_run_and_the_run_as_principal_read(bundle, name):
    """Top-level permissions of a target apply to the job and to the deployed files (<root>): CAN_RUN is
    the job's CAN_MANAGE_RUN (and CAN_RUN on the folder), CAN_VIEW the job's CAN_VIEW and CAN_READ on the
    folder; tests/integration/test_databricks_cli.py reads back what the CLI set."""
    perms = bundle["targets"][name]["permissions"]
    assert {"level": "CAN_RUN", "service_principal_name": "${var.backend_principal}"} in perms
    assert {"level": "CAN_VIEW", "service_principal_name": "${var.prod_service_principal}"} in perms
    assert {"level": "CAN_MANAGE", "user_name": "${workspace.current_user.userName}"} in perms
    assert "permissions" not in bundle["targets"]["dev"] and "permissions" not in bundle
    default = bundle["variables"]["backend_principal"]["default"]
    assert default == "backend_principal-not-set"  # a placeholder the workspace refuses, naming the variable


def test_sync_uploads_only_the_bundle_configuration(bundle):
    # .gitignore semantics, in order: drop everything at the root, take back databricks.yml and the
    # job files. tests/integration/test_databricks_cli.py asserts what the workspace received.
    assert bundle["sync"] == {"exclude": ["/*", "!/databricks.yml", "!/jobs/", "/jobs/*", "!/jobs/*.job.yml"]}
    assert bundle["include"] == ["jobs/*.job.yml"]


def test_failure_emails_is_a_list_variable_set_per_target(bundle):
    var = bundle["variables"]["failure_emails"]
    assert var["type"] == "complex" and var["default"] == []
    # --var and BUNDLE_VAR_* cannot carry a list: the docs show them only with the CLI's refusal.
    lines = (REPO / "docs" / "DEPLOY.md").read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if "failure_emails=" in line:
            assert lines[i + 1].startswith("Error: setting ") and "not supported" in lines[i + 1], line
    assert any("variable-overrides.json" in line for line in lines)


def test_wheelhouse_target_installs_from_the_uploaded_requirements_file(bundle):
    target = bundle["targets"]["prod_wheelhouse"]
    (lib,) = target["variables"]["cluster_libraries"]
    req = REPO / lib["requirements"]
    assert req == REPO / "wheelhouse" / "requirements.txt" and req.is_file()
    (artifact,) = target["artifacts"].values()
    assert (REPO / artifact["path"]).resolve() == REPO
    assert artifact["build"] == "python3 scripts/build_wheelhouse.py --spark-version ${var.spark_version}"
    assert target["sync"]["include"] == ["wheelhouse/*"] and target["sync"]["exclude"] == ["!/wheelhouse/"]
    # the wheels are git-ignored (built on deploy), the requirements file is not
    ignored = (REPO / ".gitignore").read_text().splitlines()
    assert "wheelhouse/*.whl" in ignored and "wheelhouse/" not in ignored


def _wheelhouse():
    spec = importlib.util.spec_from_file_location("build_wheelhouse", REPO / "scripts" / "build_wheelhouse.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("spark_version", "python"), [("15.4.x-scala2.12", "3.11"), ("16.4.x-scala2.12", "3.12"),
                                                       ("17.3.x-scala2.13", "3.12")])
def test_wheelhouse_python_follows_the_runtime(spark_version, python):
    assert _wheelhouse().runtime_python(spark_version) == python


@pytest.mark.parametrize(("version", "python"), [("1", "3.10"), ("2", "3.11"), ("3", "3.12"), ("4", "3.12")])
def test_wheelhouse_python_follows_the_serverless_environment(version, python):
    assert _wheelhouse().serverless_python(version) == python


def test_wheelhouse_refuses_an_unknown_serverless_environment_naming_the_variable():
    wh = _wheelhouse()
    with pytest.raises(wh.WheelhouseError, match="serverless_environment_version"):
        wh.serverless_python("9")
    assert wh.main(["--serverless-environment", "9", "--out", "/nonexistent"]) == 2


@pytest.mark.parametrize("spark_version", ["14.3.x-scala2.12", "latest", ""])
def test_wheelhouse_refuses_an_unknown_runtime_naming_the_variable(spark_version):
    wh = _wheelhouse()
    with pytest.raises(wh.WheelhouseError, match="spark_version"):
        wh.runtime_python(spark_version)
    assert wh.main(["--spark-version", spark_version, "--out", "/nonexistent"]) == 2


def test_wheelhouse_requirements_file_installs_from_its_own_folder_only():
    wh = _wheelhouse()
    wh.check_requirements(REPO / "wheelhouse" / "requirements.txt")  # the tracked file is valid


def test_wheelhouse_requirements_file_is_checked(tmp_path):
    wh = _wheelhouse()
    bad = tmp_path / "requirements.txt"
    bad.write_text("--find-links .\nnuvyn-executor\n")  # no --no-index: pip would go to PyPI
    with pytest.raises(wh.WheelhouseError, match="--no-index"):
        wh.check_requirements(bad)
    with pytest.raises(wh.WheelhouseError, match="missing"):
        wh.check_requirements(tmp_path / "absent.txt")


def test_wheelhouse_downloads_the_wheels_dependencies_but_not_the_runtimes(tmp_path):
    import zipfile

    wh = _wheelhouse()
    wheel = tmp_path / "nuvyn_executor-9.9.9-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("nuvyn_executor-9.9.9.dist-info/METADATA", "\n".join([
            "Metadata-Version: 2.1", "Name: nuvyn-executor", "Version: 9.9.9",
            "Requires-Dist: numpy>=1.22", "Requires-Dist: pyarrow>=10", "Requires-Dist: azure-identity>=1.12",
            "Requires-Dist: Fastavro>=1.7", 'Requires-Dist: pytest>=7; extra == "test"', ""]))
    reqs = wh.requires_dist(wheel)
    assert reqs == ["numpy>=1.22", "pyarrow>=10", "azure-identity>=1.12", "Fastavro>=1.7"]
    assert wh.dependencies_to_download(reqs, with_runtime_packages=False) == ["azure-identity>=1.12", "Fastavro>=1.7"]
    assert wh.dependencies_to_download(reqs, with_runtime_packages=True) == reqs
    with pytest.raises(wh.WheelhouseError, match="pyspark"):
        wh.dependencies_to_download(["pyspark==3.5.7"], with_runtime_packages=True)


def test_the_wheel_requires_what_the_wheelhouse_expects():
    """numpy and pyarrow are left out of the wheelhouse because the runtime has them; the rest of
    install_requires is downloaded. A new dependency lands in the wheelhouse without a change here."""
    install_requires = ast.literal_eval(setup_py_call()["install_requires"])
    names = {_wheelhouse().requirement_name(r) for r in install_requires}
    assert _wheelhouse().RUNTIME_PACKAGES <= names
    assert not names & _wheelhouse().NEVER
