"""The query service's Prometheus metrics, named ``gpu_exec_*``.

They live in prometheus_client's default registry, which the Dask scheduler's HTTP server exports
at ``/metrics`` beside Dask's own metrics: one scrape target per cluster. The registry of queries
(scheduler.service.registry) updates them as statements start and end; the executor count is read
when scraped.
"""

from __future__ import annotations

from typing import Callable

from prometheus_client import Counter, Gauge, Histogram

__all__ = ["QUERIES", "RUNNING", "SECONDS", "ROWS", "watch_executors", "query_started", "query_finished"]

QUERIES = Counter("gpu_exec_queries", "Statements the query service finished, by how they ended", ["state"])
RUNNING = Gauge("gpu_exec_queries_running", "Statements the query service is running now")
SECONDS = Histogram("gpu_exec_query_seconds", "How long the service's statements ran, start to end",
                    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600))
ROWS = Counter("gpu_exec_result_rows", "Rows of the results of the statements that succeeded")
EXECUTORS = Gauge("gpu_exec_executors", "Executors connected to the scheduler")


def watch_executors(count: Callable[[], int]) -> None:
    """Report ``count()`` (the executors connected now) on each scrape."""
    EXECUTORS.set_function(count)


def query_started() -> None:
    RUNNING.inc()


def query_finished(state: str, seconds: float, rows: int) -> None:
    RUNNING.dec()
    QUERIES.labels(state=state).inc()
    SECONDS.observe(seconds)
    if state == "succeeded":
        ROWS.inc(rows)
