"""The seeded synthetic lake: CSV tables, Parquet tables, a Hive-partitioned table, one big CSV
and a CSV with quoted newlines. Generated once per parameter set under the cache dir."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class LakeSpec:
    csv_tables: int = 50
    parquet_tables: int = 50
    files_per_table: int = 20
    rows_per_file: int = 2000
    hive_years: int = 3
    hive_months: int = 6
    hive_days: int = 6  # 3 x 6 x 6 = 108 files
    hive_rows_per_file: int = 500
    big_csv_mb: int = 250
    seed: int = 7

    @classmethod
    def quick(cls) -> LakeSpec:
        return cls(csv_tables=3, parquet_tables=3, files_per_table=3, rows_per_file=200, hive_years=2,
                   hive_months=2, hive_days=2, hive_rows_per_file=50, big_csv_mb=2)

    def key(self) -> str:
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]


def _columns(rng: np.random.Generator, n: int, offset: int):
    import pyarrow as pa

    base = np.datetime64("2020-01-01T00:00:00")
    return pa.table({
        "id": pa.array(np.arange(offset, offset + n, dtype=np.int64)),
        "qty": pa.array(rng.integers(0, 1000, n, dtype=np.int32)),
        "amount": pa.array(np.round(rng.random(n) * 1000, 2)),
        "name": pa.array(np.char.add("name_", rng.integers(0, 10_000, n).astype(str)).astype(object)),
        "created": pa.array((base + rng.integers(0, 3 * 365, n).astype("timedelta64[D]")).astype("datetime64[D]")),
        "updated_at": pa.array(base + rng.integers(0, 10**8, n).astype("timedelta64[s]")),
        "active": pa.array(rng.random(n) < 0.5),
    })


def _write_csv(table, path: Path) -> None:
    import pyarrow.csv as pacsv

    pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="needed"))


def generate(spec: LakeSpec, cache_dir: Path) -> tuple[Path, dict]:
    """The lake's root and its manifest {table name: {format, files, rows}} (built if missing)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = cache_dir / f"lake-{spec.key()}"
    manifest_path = root.parent / f"lake-{spec.key()}.json"
    if manifest_path.exists() and root.exists():
        return root, json.loads(manifest_path.read_text())
    shutil.rmtree(root, ignore_errors=True)
    rng = np.random.default_rng(spec.seed)
    tables: dict[str, dict] = {}
    offset = 0
    for t in range(spec.csv_tables):
        name = f"csv/t{t:03d}"
        (root / name).mkdir(parents=True)
        for f in range(spec.files_per_table):
            _write_csv(_columns(rng, spec.rows_per_file, offset), root / name / f"part-{f:04d}.csv")
            offset += spec.rows_per_file
        tables[name] = {"format": "csv", "files": spec.files_per_table, "rows": spec.files_per_table * spec.rows_per_file}
    for t in range(spec.parquet_tables):
        name = f"parquet/p{t:03d}"
        (root / name).mkdir(parents=True)
        for f in range(spec.files_per_table):
            pq.write_table(_columns(rng, spec.rows_per_file, offset), root / name / f"part-{f:04d}.parquet")
            offset += spec.rows_per_file
        tables[name] = {"format": "parquet", "files": spec.files_per_table,
                        "rows": spec.files_per_table * spec.rows_per_file}
    n_hive = 0
    for y in range(spec.hive_years):
        for m in range(spec.hive_months):
            for d in range(spec.hive_days):
                folder = root / "hive/events" / f"year={2020 + y}" / f"month={m + 1:02d}" / f"day={d + 1:02d}"
                folder.mkdir(parents=True)
                pq.write_table(_columns(rng, spec.hive_rows_per_file, offset).drop(["created"]),
                               folder / "part-0000.parquet")
                offset += spec.hive_rows_per_file
                n_hive += 1
    tables["hive/events"] = {"format": "parquet", "files": n_hive, "rows": n_hive * spec.hive_rows_per_file,
                             "partitioned": True}
    # the big CSV: chunks of one generated table appended until the size is reached
    (root / "big").mkdir(parents=True)
    big = root / "big" / "big.csv"
    chunk = _columns(rng, 100_000, 0)
    import pyarrow.csv as pacsv

    rows = 0
    with open(big, "wb") as fh, pacsv.CSVWriter(fh, chunk.schema) as w:
        while fh.tell() < spec.big_csv_mb * 1024 * 1024:
            w.write_table(chunk)
            rows += chunk.num_rows
            fh.flush()
    tables["big"] = {"format": "csv", "files": 1, "rows": rows}
    # quoted newlines / quotes / delimiters inside fields: record count != line count
    (root / "quoted").mkdir(parents=True)
    notes = pa.table({
        "id": pa.array(np.arange(1000)),
        "note": pa.array([f'line {i}\nsecond "part", with comma' if i % 3 == 0 else f"plain {i}" for i in range(1000)]),
    })
    _write_csv(notes, root / "quoted" / "notes.csv")
    tables["quoted"] = {"format": "csv", "files": 1, "rows": 1000}
    manifest = {"spec": asdict(spec), "tables": tables,
                "files": sum(t["files"] for t in tables.values()),
                "bytes": sum(p.stat().st_size for p in root.rglob("*") if p.is_file())}
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return root, manifest


def table_files(root: Path, name: str) -> list[Path]:
    folder = root / name
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".csv", ".parquet"))
