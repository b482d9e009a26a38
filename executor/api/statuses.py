"""The API's job statuses: the one place they are spelled (the store, the models, the launchers and
the routes import them). A job is the API's record of one executor run; its final status follows the
run's (executor.metadata.model RUN_*) and the child's exit code (executor.run EXIT_*)."""

from __future__ import annotations

from typing import Final, Literal

from executor.metadata.model import RUN_PARTIAL, RUN_SUCCEEDED
from executor.run import EXIT_OK

JobStatus = Literal["created", "running", "succeeded", "partial", "failed", "cancelled"]

JOB_CREATED: Final = "created"  # accepted, queued or being submitted
JOB_RUNNING: Final = "running"
JOB_SUCCEEDED: Final = "succeeded"
JOB_PARTIAL: Final = "partial"  # some tables failed
JOB_FAILED: Final = "failed"  # also: bad input, timed out, killed
JOB_CANCELLED: Final = "cancelled"

JOB_STATUSES: Final[tuple[JobStatus, ...]] = (JOB_CREATED, JOB_RUNNING, JOB_SUCCEEDED, JOB_PARTIAL, JOB_FAILED,
                                              JOB_CANCELLED)
ACTIVE_STATUSES: Final[tuple[JobStatus, ...]] = (JOB_CREATED, JOB_RUNNING)  # not finished: may be cancelled


def job_status_of_run(exit_code: int, run_status: str) -> JobStatus:
    """The final job status of a run that ended with `exit_code` and run status `run_status`:
    succeeded or partial when the job exited 0 with that status, else failed."""
    if exit_code == EXIT_OK and run_status == RUN_SUCCEEDED:
        return JOB_SUCCEEDED
    if exit_code == EXIT_OK and run_status == RUN_PARTIAL:
        return JOB_PARTIAL
    return JOB_FAILED
