"""`python -m bench.cpu` runs (small sizes) and reports what bench/README.md quotes."""

from __future__ import annotations

import json

from bench import cpu


def test_bench_cpu_reports_each_figure(capsys):
    assert cpu.main(["--rows", "3000", "--footers", "4", "--repeat", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rows"] == 3000 and out["footers"] == 4
    assert set(out["csv_column_profile_ms"]) == {"id", "qty", "amount", "name", "created", "updated_at", "active"}
    assert out["csv_table_profile_ms"] > 0 and out["arrow_table_profile_ms"] > 0 and out["parquet_facts_ms_per_footer"] > 0
