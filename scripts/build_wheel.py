"""Build the wheel the bundle deploys: `pip wheel . --no-deps -w dist/`, after removing older wheels
from dist/ (the job installs dist/*.whl, and two versions of the package must never both match).
Used by databricks.yml's artifact and `make wheel`. Prints the wheel's path."""

from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main() -> int:
    dist = ROOT / "dist"
    dist.mkdir(exist_ok=True)
    for old in dist.glob("nuvyn_executor-*.whl"):
        old.unlink()
    subprocess.run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-w", str(dist), *sys.argv[1:]],
                   cwd=ROOT, check=True)
    (wheel,) = dist.glob("nuvyn_executor-*.whl")
    print(wheel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
