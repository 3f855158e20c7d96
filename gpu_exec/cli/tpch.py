"""``gpu-exec tpch``: generate TPC-H data, run the 22 queries, show times and where operators ran.

``--check`` compares every result with DataFusion's on the same files and, at SF1, with the
official answer files (the kit is ``gpu_exec.testing.tpch``).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from gpu_exec.testing.tpch import (QUERY_NUMBERS, Placement, QueryOutcome, default_data_dir, ensure_data,
                                   missing_tables, parse_query_numbers, run_query)

if TYPE_CHECKING:
    import datafusion
    from rich.console import Console
    from rich.table import Table

__all__ = ["add_arguments", "run", "query_numbers_argument"]


def query_numbers_argument(text: str) -> list[int]:
    """``parse_query_numbers`` as an argparse ``type``: a bad list is a usage error."""
    try:
        return parse_query_numbers(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``gpu-exec tpch``."""
    parser.add_argument("--sf", type=float, default=0.1, help="scale factor (default 0.1)")
    parser.add_argument("--data", type=Path, help="TPC-H Parquet directory, generated if it lacks "
                        "a table (default ./data/tpch-sf{sf})")
    parser.add_argument("--partitions", type=int, help="partitions per stage (default: the engine's)")
    parser.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    parser.add_argument("--queries", type=query_numbers_argument, default=list(QUERY_NUMBERS),
                        metavar="LIST", help="e.g. 1,5,15 or 1-6 (default: all 22)")
    parser.add_argument("--check", action="store_true",
                        help="compare every result with DataFusion's on the same files")
    parser.add_argument("--answers", type=Path, metavar="DIR",
                        help="with --check at SF 1: also compare with the TPC-H answer files "
                        "q01.out..q22.out in DIR")


def _answers_dir(args: argparse.Namespace, err: Console) -> Path | None:
    if args.answers is None:
        return None
    if not args.check:
        raise ValueError("--answers is used by --check: add --check")
    if args.sf != 1:
        err.print(f"[yellow]note:[/] the answer files are for SF 1; not compared at SF {args.sf:g}")
        return None
    answers: Path = args.answers
    if not answers.is_dir():
        raise FileNotFoundError(f"answer directory not found: {os.fspath(answers)!r}")
    return answers


def _run_all(session: object, args: argparse.Namespace, oracle: datafusion.SessionContext | None,
             answers: Path | None, err: Console) -> list[QueryOutcome]:
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn,
                               TextColumn, TimeElapsedColumn)

    outcomes = []
    columns = (SpinnerColumn(), TextColumn("TPC-H {task.description}"), BarColumn(),
               MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("", total=len(args.queries))
        for number in args.queries:
            progress.update(task, description=f"q{number:02d}")
            outcomes.append(run_query(session, number, oracle=oracle, answers_dir=answers,
                                      debug=args.debug))
            progress.advance(task)
    return outcomes


def _check_cell(outcome: QueryOutcome) -> str:
    if outcome.error is not None:
        return "[red]FAILED[/]"
    if outcome.problems:
        return "[red]MISMATCH[/]"
    return "[green]ok[/] (" + ", ".join(outcome.checked) + ")"


def _results_table(outcomes: list[QueryOutcome], title: str, check: bool) -> Table:
    from rich.table import Table

    table = Table(title=title, show_footer=True)
    ran = [o for o in outcomes if o.error is None]
    total_placement = sum((o.placement for o in ran), Placement())
    table.add_column("query", footer="total")
    table.add_column("rows", justify="right", footer=str(sum(o.rows or 0 for o in ran)))
    table.add_column("seconds", justify="right",
                     footer=f"{sum(o.seconds or 0.0 for o in ran):.3f}")
    table.add_column("operators", footer=str(total_placement) if ran else "")
    if check:
        passed = sum(o.ok for o in outcomes)
        table.add_column("check", footer=f"{passed}/{len(outcomes)} ok")
    for o in outcomes:
        if o.error is not None:
            cells = [o.name, "-", "-", "[red]failed[/]"]
        else:
            cells = [o.name, str(o.rows), f"{o.seconds:.3f}", str(o.placement)]
        table.add_row(*cells, *([_check_cell(o)] if check else []))
    return table


def _report_failures(outcomes: list[QueryOutcome], err: Console) -> int:
    from rich.markup import escape

    bad = [o for o in outcomes if not o.ok]
    for o in bad:
        if o.error is not None:
            err.print(f"[red]{o.name} FAILED:[/] {escape(o.error)}", highlight=False)
        else:
            err.print(f"[red]{o.name} MISMATCH:[/]")
            for problem in o.problems:
                err.print(f"  {escape(problem)}", highlight=False)
    if bad:
        err.print(f"[red]{len(bad)} of {len(outcomes)} queries failed:[/] "
                  + ", ".join(o.name for o in bad))
        return 1
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``gpu-exec tpch``; the exit code is 1 when a query fails or (with --check) mismatches."""
    from rich.console import Console

    import gpu_exec
    from gpu_exec.api.sql_scripts import datafusion_context, register_tables

    out, err = Console(), Console(stderr=True)
    data = args.data if args.data is not None else default_data_dir(args.sf)
    answers = _answers_dir(args, err)
    if missing_tables(data):
        err.print(f"generating TPC-H SF {args.sf:g} Parquet into {data} with tpchgen-cli ...")
    tables = ensure_data(args.sf, data)

    options: dict[str, object] = {"device": args.device, "fallback": "silent"}
    if args.partitions is not None:
        options["partitions"] = args.partitions
    # fallback="silent": the table shows, per query, which operators ran on the CPU and why.
    session = gpu_exec.connect(**options)
    device = session.device.label()
    try:
        register_tables(session, tables)
        oracle = datafusion_context(tables) if args.check else None
        outcomes = _run_all(session, args, oracle, answers, err)
    finally:
        session.close()

    partitions = args.partitions if args.partitions is not None else "default"
    title = f"TPC-H SF {args.sf:g} on gpu-exec (device={args.device} → {device}, partitions={partitions})"
    out.print(_results_table(outcomes, title, args.check))
    return _report_failures(outcomes, err)
