"""Build the wheelhouse the `prod_wheelhouse` bundle target deploys, for workspaces whose clusters
cannot reach PyPI: wheelhouse/ gets

- this project's wheel (`pip wheel . --no-deps`, as scripts/build_wheel.py builds it),
- the wheels of its dependencies and of theirs (`pip download --only-binary=:all:`) for the
  cluster's Python and platform: the Python version follows from the Databricks Runtime
  (`--spark-version`, the bundle variable spark_version) or from the serverless environment version
  (`--serverless-environment`, the bundle variable serverless_environment_version),
next to wheelhouse/requirements.txt (tracked in git: `--no-index`, `--find-links .`,
`nuvyn-executor`). The task installs that file as a `requirements` library: pip reads `.` relative
to the requirements file, so it resolves the wheel and its dependencies from the uploaded folder
only, and installs a dependency only when the runtime does not already satisfy it (as with PyPI),
so the runtime's own packages stay.

numpy and pyarrow are left out (every supported runtime ships versions that satisfy the wheel);
--with-runtime-packages puts them in too. pyspark and delta-spark are never requested.

Run by `databricks bundle deploy -t prod_wheelhouse` (databricks.yml) on the deploying machine,
which needs PyPI (or a mirror: PIP_INDEX_URL) at that moment; the cluster does not.

    python3 scripts/build_wheelhouse.py --spark-version 15.4.x-scala2.12
    python3 scripts/build_wheelhouse.py --serverless-environment 4      # target serverless_wheelhouse
"""

from __future__ import annotations

import argparse
import pathlib
import re
import subprocess
import sys
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
DIST_NAME = "nuvyn-executor"
WHEEL_GLOB = "nuvyn_executor-*.whl"
# Python of each supported Databricks Runtime line (release notes of DBR 15.4, 16.4, 17.3 LTS).
RUNTIME_PYTHON = {15: "3.11", 16: "3.12", 17: "3.12"}
# Python of each serverless environment version (release notes "Serverless environment versions").
SERVERLESS_PYTHON = {"1": "3.10", "2": "3.11", "3": "3.12", "4": "3.12"}
# Shipped by every runtime above at versions that satisfy the wheel's Requires-Dist.
RUNTIME_PACKAGES = frozenset({"numpy", "pyarrow"})
# Never installed on a cluster: the runtime brings its own Spark and Delta.
NEVER = frozenset({"pyspark", "delta-spark"})


class WheelhouseError(Exception):
    """A setting the wheelhouse cannot be built with; the message says which and what to do."""


def runtime_python(spark_version: str) -> str:
    """'15.4.x-scala2.12' -> '3.11'; '17.3.x-scala2.13' -> '3.12'."""
    match = re.match(r"(\d+)\.\d+\.", spark_version)
    major = int(match.group(1)) if match else None
    if major not in RUNTIME_PYTHON:
        known = ", ".join(f"{k}.x" for k in sorted(RUNTIME_PYTHON))
        raise WheelhouseError(
            f"spark_version {spark_version!r}: no known Python for this Databricks Runtime "
            f"(known lines: {known}); set the bundle variable spark_version to one of them, "
            "or pass --python-version")
    return RUNTIME_PYTHON[major]


def serverless_python(version: str) -> str:
    """'2' -> '3.11'; '4' -> '3.12'."""
    if version.strip() not in SERVERLESS_PYTHON:
        raise WheelhouseError(
            f"serverless_environment_version {version!r}: no known Python for this serverless environment "
            f"(known: {', '.join(SERVERLESS_PYTHON)}); set the bundle variable serverless_environment_version, "
            "or pass --python-version")
    return SERVERLESS_PYTHON[version.strip()]


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requires_dist(wheel: pathlib.Path) -> list[str]:
    """The wheel's Requires-Dist lines without extras-only ones (`; extra == ...`)."""
    with zipfile.ZipFile(wheel) as zf:
        (meta,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        text = zf.read(meta).decode("utf-8")
    reqs = []
    for line in text.splitlines():
        if line.startswith("Requires-Dist:"):
            req = line.split(":", 1)[1].strip()
            if "extra ==" not in req.replace('"', "").replace("'", ""):
                reqs.append(req)
    return reqs


def requirement_name(req: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
    if not match:
        raise WheelhouseError(f"cannot read the package name of requirement {req!r}")
    return normalize(match.group(1))


def dependencies_to_download(reqs: list[str], with_runtime_packages: bool) -> list[str]:
    out = []
    for req in reqs:
        name = requirement_name(req)
        if name in NEVER:
            raise WheelhouseError(f"the wheel requires {name}, which must never be installed on a cluster")
        if name in RUNTIME_PACKAGES and not with_runtime_packages:
            continue
        out.append(req.split(";", 1)[0].strip())
    return out


REQUIREMENTS = ("--no-index", "--find-links .", DIST_NAME)


def check_requirements(path: pathlib.Path) -> None:
    """The tracked requirements file must install this distribution from its own folder only."""
    if not path.is_file():
        raise WheelhouseError(f"{path} is missing: restore it from git (it is part of the bundle)")
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]
    if tuple(lines) != REQUIREMENTS:
        raise WheelhouseError(f"{path} must hold exactly these lines: {', '.join(REQUIREMENTS)} (found {lines})")


def build(out: pathlib.Path, spark_version: str | None, python: str | None, platform: str,
          with_runtime_packages: bool, serverless_environment: str | None = None) -> list[pathlib.Path]:
    if python is None:
        python = serverless_python(serverless_environment) if serverless_environment is not None \
            else runtime_python(spark_version or "")
    check_requirements(out / "requirements.txt")
    for old in out.glob("*.whl"):
        old.unlink()
    pip = [sys.executable, "-m", "pip"]
    subprocess.run([*pip, "wheel", ".", "--no-deps", "-w", str(out)], cwd=ROOT, check=True)
    (wheel,) = out.glob(WHEEL_GLOB)
    deps = dependencies_to_download(requires_dist(wheel), with_runtime_packages)
    if deps:
        subprocess.run([*pip, "download", "-d", str(out), "--only-binary=:all:", "--implementation", "cp",
                        "--python-version", python, "--platform", platform, *deps], cwd=ROOT, check=True)
    return sorted(out.glob("*.whl"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    compute = parser.add_mutually_exclusive_group(required=True)
    compute.add_argument("--spark-version", help="the cluster's Databricks Runtime, e.g. 15.4.x-scala2.12")
    compute.add_argument("--serverless-environment", help="the serverless environment version, e.g. 4")
    parser.add_argument("--out", default=str(ROOT / "wheelhouse"), help="local folder (default: wheelhouse/)")
    parser.add_argument("--python-version", default=None, help="the cluster's Python (default: from --spark-version)")
    parser.add_argument("--platform", default="manylinux2014_x86_64",
                        help="wheel platform of the cluster nodes (default manylinux2014_x86_64; "
                             "manylinux2014_aarch64 for Graviton nodes)")
    parser.add_argument("--with-runtime-packages", action="store_true", help="also download numpy and pyarrow")
    args = parser.parse_args(argv)
    try:
        wheels = build(pathlib.Path(args.out), args.spark_version, args.python_version, args.platform,
                       args.with_runtime_packages, args.serverless_environment)
    except WheelhouseError as exc:
        print(f"build_wheelhouse: {exc}", file=sys.stderr)
        return 2
    for wheel in wheels:
        print(wheel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
