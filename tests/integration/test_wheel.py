"""The wheel the bundle deploys: built from setup.py, named as the job's package_name says, with the
job's entry point, and installable next to a runtime's Spark without touching it."""

from __future__ import annotations

import email
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from executor import __version__

REPO = Path(__file__).resolve().parents[2]
SPARK_DISTS = {"pyspark", "delta-spark", "delta_spark"}


def _pip(python: str | Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    out = subprocess.run([str(python), "-m", "pip", *args], cwd=cwd, capture_output=True, text=True, check=False,
                         timeout=600, env=env)
    assert out.returncode == 0, f"pip {' '.join(args)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """`pip wheel . --no-deps -w dist/` (into a temp dir; no build isolation, so no download)."""
    dist = tmp_path_factory.mktemp("dist")
    build = tmp_path_factory.mktemp("build")
    src = build / "src"
    # Build from a clean copy: a build/ or *.egg-info left in the work tree must not leak in.
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".git", ".venv*", "build", "dist", "*.egg-info",
                                                             "__pycache__", ".nuvyn", ".tools", ".pytest_cache",
                                                             "node_modules", "samples"))
    _pip(sys.executable, "wheel", ".", "--no-deps", "--no-build-isolation", "-w", str(dist), cwd=src)
    (whl,) = dist.glob("*.whl")
    return whl


def _metadata(whl: Path) -> email.message.Message:
    with zipfile.ZipFile(whl) as z:
        (name,) = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
        return email.message_from_bytes(z.read(name))


def test_wheel_name_version_and_entry_point(wheel):
    assert wheel.name == f"nuvyn_executor-{__version__}-py3-none-any.whl"  # package_name: nuvyn_executor
    meta = _metadata(wheel)
    assert meta["Name"] == "nuvyn-executor" and meta["Version"] == __version__
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        (ep,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        entry_points = z.read(ep).decode()
    assert "nuvyn-executor-job = executor.main:job_main" in entry_points
    assert "executor/main.py" in names and "executor/storage/schema.py" in names
    assert "executor/resources/log4j2.properties" in names  # the local JVM's quiet log config
    assert not [n for n in names if n.startswith(("tests/", "jobs/", "samples/"))]


def test_wheel_requires_no_spark(wheel):
    requires = _metadata(wheel).get_all("Requires-Dist") or []
    assert requires, "the wheel declares its dependencies"
    for req in requires:
        name = req.split(";")[0].strip().split(" ")[0]
        for op in "<>=!~[(":
            name = name.split(op)[0]
        if name.lower() in SPARK_DISTS:
            # Only the `local` extra (a laptop's lane-A pins) may name Spark.
            assert 'extra == "local"' in req, req


def test_installing_the_wheel_leaves_the_runtime_spark_alone(wheel, tmp_path):
    """A cluster already has its pyspark: installing the wheel (with its dependencies) must not
    replace it. Stand-in for the cluster: a fresh venv that sees this lane's site-packages (where
    pyspark is) through a .pth file."""
    before = metadata.version("pyspark")
    site = sysconfig.get_paths()["purelib"]

    # 1. What would pip do in this very environment? Nothing to Spark.
    report = tmp_path / "report.json"
    _pip(sys.executable, "install", str(wheel), "--dry-run", "--no-index",
         "--find-links", str(wheel.parent), "--report", str(report))
    # The report lists what pip would install or replace: Spark is never among it.
    to_install = {item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]}
    assert to_install <= {"nuvyn-executor"}, to_install

    # 2. A real install into a venv that already has pyspark (inherited).
    venv = tmp_path / "cluster"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    venv_site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip()
    Path(venv_site, "runtime.pth").write_text(site + "\n")
    _pip(py, "install", str(wheel), "--no-index", "--find-links", str(wheel.parent))
    probe = ("import json, importlib.metadata as m, pyspark, executor; "
             "print(json.dumps([m.version('pyspark'), pyspark.__file__, executor.__version__]))")
    version, pyspark_file, exec_version = json.loads(
        subprocess.run([str(py), "-c", probe], check=True, capture_output=True, text=True,
                       cwd=tmp_path).stdout)
    assert version == before == metadata.version("pyspark")
    assert pyspark_file.startswith(site), "pyspark still comes from the runtime, not from the wheel's install"
    assert exec_version == __version__
    assert not list(Path(venv_site).glob("pyspark*")) and not list(Path(venv_site).glob("delta*"))
    assert (venv / "bin" / "nuvyn-executor-job").exists()

    # 3. The Databricks wheel launcher: distribution(package_name) -> entry point -> load()() with the
    #    task parameters in sys.argv. With an empty payload and no NUVYN_JOB_PAYLOAD the run is bad
    #    input: the task must fail (an exception), not return 2 into the void.
    launcher = (
        "import sys, importlib.metadata as metadata\n"
        "sys.argv = ['nuvyn_executor', '--payload=', '--run-id=42', '--write-to-db']\n"
        "entry = [ep for ep in metadata.distribution('nuvyn_executor').entry_points"
        " if ep.name == 'nuvyn-executor-job']\n"
        "assert entry, 'entry point not found'\n"
        "entry[0].load()()\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUVYN_")}
    run = subprocess.run([str(py), "-c", launcher], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120, check=False)
    assert run.returncode != 0
    assert "JobFailedError: nuvyn-executor exit code 2" in run.stderr
    assert "workflow_id is required" in run.stderr
