"""A progress bar for queries that run longer than a moment (terminals and notebooks).

Short queries print nothing: the bar appears only once a job has run ``delay`` seconds, and
disappears when it ends. ``progress="auto"`` shows it on a terminal or in Jupyter, never when
output is captured (tests, pipes).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from scheduler.runner import JobListener

if TYPE_CHECKING:
    from gpu_exec.executor.task import TaskReport
    from scheduler.job import Job

__all__ = ["ProgressBar", "progress_enabled"]


def progress_enabled(setting: str) -> bool:
    """``"on"`` / ``"off"``, or for ``"auto"``: is stderr a terminal or a Jupyter notebook?"""
    if setting in ("on", "off"):
        return setting == "on"
    from rich.console import Console

    console = Console(stderr=True)
    return console.is_terminal or console.is_jupyter


class ProgressBar(JobListener):
    """A job listener drawing finished tasks over all tasks, and the stages done."""

    def __init__(self, delay: float = 1.5) -> None:
        self.delay = delay
        self._start = 0.0
        self._progress: Any = None
        self._bar: Any = None

    def job_started(self, job: Job) -> None:
        self._start = time.monotonic()

    def task_finished(self, job: Job, report: TaskReport) -> None:
        self._update(job)

    def stage_finished(self, job: Job, stage_id: int) -> None:
        self._update(job)

    def tick(self, job: Job) -> None:
        self._update(job)

    def job_finished(self, job: Job) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def _update(self, job: Job) -> None:
        if self._progress is None:
            if time.monotonic() - self._start < self.delay:
                return
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TextColumn("tasks"), TimeElapsedColumn(),
                                      console=Console(stderr=True), transient=True)
            self._bar = self._progress.add_task("", total=None)
            self._show(job)
            self._progress.start()
        else:
            self._show(job)

    def _show(self, job: Job) -> None:
        done, total = job.progress()
        finished = sum(job.stage_complete(s.id) for s in job.plan.stages)
        self._progress.update(self._bar, completed=done, total=total,
                              description=f"{job.job_id} stages {finished}/{len(job.plan.stages)}")
