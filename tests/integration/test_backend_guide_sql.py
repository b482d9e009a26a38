"""Every ```sql block of docs/BACKEND_INTEGRATION_GUIDE.md runs against the tables of a real local
run (the guide's literal ids and schema replaced with the run's) and returns rows."""

from __future__ import annotations

import re
from pathlib import Path

GUIDE = Path(__file__).resolve().parent.parent.parent / "docs" / "BACKEND_INTEGRATION_GUIDE.md"


def sql_blocks(text: str) -> list[str]:
    return [m.group(1).strip().rstrip(";") for m in re.finditer(r"```sql\n(.*?)```", text, re.S)]


def test_every_sql_example_returns_rows(context, sample_lake):
    from executor.main import run_job
    from executor.payload import JobRequest

    blocks = sql_blocks(GUIDE.read_text(encoding="utf-8"))
    assert len(blocks) >= 4
    request = JobRequest(workflow_id="wf_guide_1", source_id="src_guide_1", data_source_path=str(sample_lake))
    code, report = run_job(request, context)
    assert code == 0 and report["status"] in ("succeeded", "partial"), report
    # a second, failed run of the same workflow must not leak into any answer
    failed = JobRequest(workflow_id="wf_guide_1", source_id="src_guide_1",
                        data_source_path=str(sample_lake / "does-not-exist"))
    assert run_job(failed, context)[1]["status"] == "failed"

    target = f"{context.settings.catalog}.{context.settings.schema}"
    for sql in blocks:
        query = (sql.replace("hive_metastore._executor_metadata", target)
                    .replace("'workflow_abc123'", "'wf_guide_1'")
                    .replace("'source_xyz789'", "'src_guide_1'"))
        rows = context.spark.sql(query).collect()
        assert rows, f"no rows for:\n{query}"
        for row in rows:
            d = row.asDict()
            if "run_id" in d and d.get("status") != "failed":
                assert d["run_id"] == request.run_id
            if "workflow_id" in d:
                assert d["workflow_id"] == "wf_guide_1"
