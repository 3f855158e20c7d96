"""The explicit states of a job, its stages and its tasks (Ballista's execution graph is the model)."""

from __future__ import annotations

import enum

__all__ = ["JobState", "StageState", "TaskState"]


class JobState(enum.Enum):
    QUEUED = "queued"  # planned, nothing submitted yet
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # every final task's output is waiting in a shuffle store
    FAILED = "failed"  # a task ran out of attempts, or an error that retrying cannot fix
    CANCELLED = "cancelled"


class StageState(enum.Enum):
    WAITING = "waiting"  # some input stage has outputs missing
    RUNNING = "running"  # inputs complete; some of its tasks have no output (yet, or any more)
    SUCCEEDED = "succeeded"  # every task's output is available
    FAILED = "failed"


class TaskState(enum.Enum):
    PENDING = "pending"  # never run, or to run again (it failed, or its output was lost)
    RUNNING = "running"  # submitted to Dask
    SUCCEEDED = "succeeded"  # its output is in a shuffle store; the scheduler knows where
    FAILED = "failed"  # out of attempts: the job fails with its error
