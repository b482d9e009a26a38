"""Python 3.12, the Python of DBR 16.4 and 17.3 LTS (15.4 has 3.11). Lane B's venv is built on a
3.12 interpreter where the machine has one (scripts/bootstrap.sh), so `make test-lane-b` runs the
integration suite on it; these checks run on every lane and keep the code free of what 3.12 (and
3.13) broke: removed standard modules, setuptools no longer in every venv, syntax."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = ["executor", "tests", "scripts", "jobs", "bench", "setup.py"]

# PEP 594 and 632: gone from the standard library in 3.12 (first five) and 3.13 (the rest).
REMOVED = {
    "distutils", "imp", "asynchat", "asyncore", "smtpd",
    "aifc", "audioop", "cgi", "cgitb", "chunk", "crypt", "imghdr", "mailcap", "msilib", "nis", "nntplib",
    "ossaudiodev", "pipes", "sndhdr", "spwd", "sunau", "telnetlib", "uu", "xdrlib", "lib2to3",
}
# A 3.12 venv has no setuptools unless asked for: the installed package must not import it.
NOT_AT_RUNTIME = {"pkg_resources", "setuptools"}


def python_files() -> list[Path]:
    files: list[Path] = []
    for name in SOURCES:
        path = REPO / name
        files.extend([path] if path.is_file() else sorted(path.rglob("*.py")))
    return files


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=(3, 12))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


def test_no_module_removed_in_python_312_or_313_is_imported():
    files = python_files()
    assert len(files) > 50
    used = {str(f.relative_to(REPO)): imported_modules(f) & REMOVED for f in files}
    assert {f: m for f, m in used.items() if m} == {}


def test_the_installed_package_does_not_need_setuptools():
    used = {str(f.relative_to(REPO)): imported_modules(f) & NOT_AT_RUNTIME
            for f in (REPO / "executor").rglob("*.py")}
    assert {f: m for f, m in used.items() if m} == {}


def test_the_removed_module_check_finds_one(tmp_path):
    sample = tmp_path / "old.py"
    sample.write_text("import distutils.util\nfrom imp import reload\nfrom . import sibling\n")
    assert imported_modules(sample) == {"distutils", "imp"}


def test_ruff_with_target_python_312_is_clean():
    """ruff.toml's rules with --target-version py312. UP017 (datetime.UTC) is left out: it is a
    3.11+ spelling, and the wheel still installs on 3.10 (python_requires)."""
    ruff = [sys.executable, "-m", "ruff"]
    if subprocess.run([*ruff, "--version"], capture_output=True).returncode != 0:
        if not shutil.which("ruff"):
            pytest.skip("ruff is not installed (the test extra installs it)")
        ruff = ["ruff"]
    done = subprocess.run([*ruff, "check", "--no-cache", "--target-version", "py312", "--extend-ignore", "UP017",
                           *SOURCES], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
