"""nuvyn-executor wheel. install_requires never names pyspark or delta-spark: a Databricks runtime
brings its own, and a PyPI pyspark on a cluster breaks it. The `local` extra pins lane A for local
runs; `test` adds the test tools (and pyspark's Spark Connect client dependencies)."""

import pathlib
import re

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "executor" / "__init__.py").read_text()).group(1)


def pins(lane: str) -> list[str]:
    lines = (HERE / "requirements" / f"lane-{lane}.txt").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


setup(
    name="nuvyn-executor",
    version=VERSION,
    description="Metadata extraction for data lakes as a Databricks Job: schemas, exact row counts, samples -> Delta tables",
    long_description=(HERE / "README.md").read_text(encoding="utf-8") if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    packages=find_packages(include=["executor", "executor.*"]),
    python_requires=">=3.10",
    install_requires=[
        "numpy>=1.22",
        "pyarrow>=10",
        "azure-identity>=1.12",
        "azure-storage-blob>=12.14",
        "fastavro>=1.7",  # Avro samples and profiles (header and counts are read without it)
        "rich>=13",  # progress bar of `nuvyn-executor extract` in a terminal (pure Python)
    ],
    extras_require={
        # deltalake (delta-rs): query/runs/tables/diff and the API read the local Delta tables without a
        # JVM. Not in install_requires: on Databricks the reads use Spark or the SQL Statement API.
        "local": pins("a") + ["deltalake>=1.0"],
        "api": ["fastapi>=0.110", "uvicorn>=0.27", "databricks-sdk>=0.20", "deltalake>=1.0"],
        "test": [
            "pytest>=7",
            "chispa>=0.10",
            "duckdb>=1.0",
            "hypothesis>=6",
            "httpx>=0.27",
            "pyyaml>=6",
            "ruff>=0.4",
            "mypy>=1.10",  # make lint: mypy over executor/ (mypy.ini)
            "fastapi>=0.110",
            "uvicorn>=0.27",
            "databricks-sdk>=0.20",
            "rich>=13",
            "deltalake>=1.0",
            "schemathesis>=4",  # the API's OpenAPI fuzzed in tests/unit/test_api_schemathesis.py
            # pyspark's Spark Connect client (its `connect` extra, minimums of pyspark 4.0): the Connect lane,
            # tests/integration/test_connect.py
            "grpcio>=1.67",
            "grpcio-status>=1.67",
            "googleapis-common-protos>=1.65",
            "pandas>=2.0",
        ],
    },
    entry_points={
        "console_scripts": [
            "nuvyn-executor=executor.cli:main",
            "nuvyn-executor-job=executor.main:job_main",  # Databricks python_wheel_task entry_point
        ]
    },
    package_data={"executor.resources": ["*.properties"]},  # log4j2 config of the local Spark JVM
    include_package_data=True,
)
