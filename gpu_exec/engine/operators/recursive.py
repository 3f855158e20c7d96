"""WITH RECURSIVE: the static term's rows, then rounds of the recursive term over the previous round.

One partition (planner.physical gathers the static term). A round runs the recursive term's plan
afresh (the driver builds its pipelines again, so its exchanges and breakers see the new work
table) with the previous round's rows as its ``WorkTableScan``, and its partitions are merged as
they come; the rows stream out as they are produced, so a LIMIT above stops the recursion. The
query ends after a round that yields no (new) rows, as DataFusion's RecursiveQueryExec does.

Held in the memory pool: the previous round's rows (the work table) and the round being built;
with UNION (``distinct``) also every distinct row produced so far, against which each batch is
checked (an anti join with NULLs equal, as GROUP BY compares them). DataFusion bounds neither
the rounds nor the rows; gpu-exec stops after ``ctx.recursion_limit`` rounds with a ResourceError
naming the CTE (the session's ``recursion_limit``), and the memory limit bounds the rows held.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterator

from gpu_exec.engine.operators.basic import select_columns
from planner.errors import ResourceError

if TYPE_CHECKING:
    from gpu_exec.engine.context import ExecutionContext
    from gpu_exec.engine.kernels import Table
    from gpu_exec.engine.memory import Reservation
    from gpu_exec.engine.streams import Partition
    from planner.ir import RecursiveQuery, WorkTableScan

__all__ = ["recursive_query", "work_table_scan"]


class _Seen:
    """The distinct rows a UNION recursive query has produced so far, accounted in ``reservation``."""

    def __init__(self, node: RecursiveQuery, reservation: Reservation, ctx: ExecutionContext) -> None:
        self.node = node
        self.reservation = reservation
        self.ctx = ctx
        self.table: Table | None = None

    def new_rows(self, batch: Table) -> Table:
        """The rows of ``batch`` not produced before, each once; remembered from now on."""
        k = self.ctx.kernels
        rows = k.distinct(batch)
        if self.table is not None and k.num_rows(rows):
            fresh, _ = k.join(rows, self.table, "left_anti", True)
            rows = k.gather(rows, fresh)
        if k.num_rows(rows):
            self.table = rows if self.table is None else k.concat([self.table, rows], self.node.schema)
            self.reservation.resize(k.nbytes(self.table))
        return rows


def recursive_query(node: RecursiveQuery, static: list[Partition], run_term: Callable[[], list[Partition]],
                    ctx: ExecutionContext) -> list[Partition]:
    """The one output partition of ``node``: ``static`` (its static term's partitions), then the
    rounds; ``run_term()`` builds the recursive term's partitions over ``ctx.work_tables[node.id]``,
    which this sets before each call."""
    k = ctx.kernels
    columns = list(range(len(node.schema)))

    def rows_of(partitions: list[Partition], seen: _Seen | None) -> Iterator[Table]:
        merged = ctx.merge(partitions)
        try:
            for batch in merged:
                batch = select_columns(batch, columns, node.schema, ctx)  # the CTE's column names
                if seen is not None:
                    batch = seen.new_rows(batch)
                if k.num_rows(batch):
                    yield batch
        finally:
            merged.close()

    def run() -> Iterator[Table]:
        held = ctx.memory.reservation("RecursiveQuery", detail=f"the rows of a round of {node.name!r}")
        seen = None
        if node.distinct:
            seen = _Seen(node, ctx.memory.reservation("RecursiveQuery", detail=f"the rows {node.name!r} produced"),
                         ctx)
        try:
            work: list[Table] = []
            for batch in rows_of(static, seen):
                held.grow(k.nbytes(batch))
                work.append(batch)
                yield batch
            rounds = 0
            while work:
                ctx.check_cancelled()  # a round boundary: a cancelled query stops here
                rounds += 1
                if ctx.recursion_limit and rounds > ctx.recursion_limit:
                    raise ResourceError(
                        f"the recursive query {node.name!r} did not end after {ctx.recursion_limit} rounds "
                        "(every round produced rows); raise the session's recursion_limit "
                        "(connect(recursion_limit=...), GPU_EXEC__RECURSION_LIMIT; 0: no bound) if it "
                        "does end", consumer="RecursiveQuery")
                ctx.work_tables[node.id] = (k.name, work, node.schema)
                try:
                    produced: list[Table] = []
                    for batch in rows_of(run_term(), seen):
                        held.grow(k.nbytes(batch))
                        produced.append(batch)
                        yield batch
                finally:
                    ctx.work_tables.pop(node.id, None)
                held.shrink(sum(k.nbytes(b) for b in work))  # the previous round is read: let it go
                work = produced
        finally:
            held.free()
            if seen is not None:
                seen.reservation.free()

    return [run()]


def work_table_scan(node: WorkTableScan, ctx: ExecutionContext) -> list[Partition]:
    """The current round's rows of the recursive query ``node.id`` (its columns ``node.columns``),
    as one partition, moved to this scan's device if the rounds are held on another."""
    try:
        device, batches, schema = ctx.work_tables[node.id]
    except KeyError:
        raise AssertionError(f"the work table of {node.name!r} is read outside its recursive query") from None
    k = ctx.kernels
    columns = list(node.columns)

    def run(partition: Partition) -> Iterator[Table]:
        remaining = node.fetch
        for batch in partition:
            if remaining is not None:
                if remaining <= 0:
                    return
                if k.num_rows(batch) > remaining:
                    batch = k.slice(batch, 0, remaining)
                remaining -= k.num_rows(batch)
            yield select_columns(batch, columns, node.schema, ctx)

    (moved,) = ctx.transfer([list(batches)], schema, device, k.name)
    return [run(moved)]
