"""``bulkupdate run`` and ``resume``: a journaled run of the engine, start to exit code.

SIGINT and SIGTERM stop the run gracefully: the engine's tasks are cancelled, what they
had under way stays in the journal (a POST sent is a post to look for, a job submitted
is a job to watch), and the exact command to resume is printed. Exit code 130.
"""

from __future__ import annotations

import contextlib
import gc
import shlex
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import replace
from typing import TYPE_CHECKING, TextIO

import anyio

from bulkupdate.budget import redacted_url
from bulkupdate.engine.outcomes import Totals
from bulkupdate.errors import ReportNotWritten, first_known_error
from bulkupdate.escaping import printable
from bulkupdate.runs.dry_run import dry_run
from bulkupdate.runs.embedded_sandbox import sandbox_config
from bulkupdate.runs.journal import Journal
from bulkupdate.runs.output_paths import check_run_paths
from bulkupdate.runs.run_options import EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_FAILED, RunOptions
from bulkupdate.runs.start_or_resume import (
    RUNS_DIRECTORY,
    AlreadyFinished,
    Durable,
    start_or_resume,
)

SHOWN = 300  # characters of a server's error detail shown in the summary

if TYPE_CHECKING:
    from bulkupdate.api.client import ApiClient
    from bulkupdate.engine.pipeline import EngineStats
    from bulkupdate.engine.resume_state import ResumeState
    from bulkupdate.input.number_streams import InputStream
    from bulkupdate.input.scan import Chunk
    from bulkupdate.runs.events import EventLog, LogFormat
    from bulkupdate.runs.progress_bar import ProgressDisplay


def run_main(options: RunOptions, *, resume: Durable | None = None) -> int:
    """Run ``options`` (or carry on ``resume``) to an exit code."""
    # Where the run will write is checked before anything is sent: a report path found
    # bad at the end would come after every number was updated.
    check_run_paths(
        inputs=options.inputs.paths,
        report=options.report,
        journal=resume.journal.path if resume else options.journal,
        journal_folder=None if options.dry_run else RUNS_DIRECTORY,
    )
    if options.sandbox:
        sandbox_config(options.sandbox_config)  # a bad settings file, before any journal
    if options.dry_run:
        if options.account is not None:
            from bulkupdate.runs.account_dry_run import account_dry_run

            return anyio.run(account_dry_run, options, sys.stdout)
        return dry_run(options, sys.stdout)
    options.resolved_api_key()  # a missing key is a usage error before anything starts
    directory = options.journal_dir if resume is None else None
    if directory is not None and options.keep_days is not None:
        _prune(directory, options.keep_days, _early_log(options))
    try:
        durable = resume or start_or_resume(options)
    except AlreadyFinished as done:
        journal = Journal.open(done.path)  # read without the lock, as ``status`` does
        totals = _journal_totals(journal)
        journal.close()
        code = EXIT_OK if totals.all_succeeded else EXIT_SOME_FAILED
        print(
            f"bulkupdate: the run of these same inputs and update in {done.path} has finished: "
            f"nothing was sent; exit {code}, that run's code (bulkupdate status {done.path} "
            "shows it; to send it all again, move that journal away)",
            file=sys.stderr,
        )
        return code
    try:
        if directory is not None:
            _note_unfinished(directory, durable.journal.path, _early_log(options))
        with _fewer_collections():
            return anyio.run(execute, options, durable)
    finally:
        durable.close()


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """The garbage collector's youngest generation collected every 20,000 allocations of
    the run rather than every 700: the run's objects seldom form cycles, and each pass
    goes over the chunks and batches alive then. A million numbers cost 93 passes and
    53-55 ms of CPU in the collector at the default; 18-20 ms so, most of it start-up's
    passes. The setting comes back after."""
    before = gc.get_threshold()
    gc.set_threshold(20_000, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _early_log(options: RunOptions) -> EventLog:
    """The event log for what happens before the run (and its progress bar) starts."""
    from bulkupdate.runs.events import EventLog

    fmt: LogFormat = "json" if options.log_format == "json" else "text"
    return EventLog(sys.stderr, fmt=fmt, quiet=options.quiet)


def _prune(directory: str, keep_days: int, log: EventLog) -> None:
    from bulkupdate.runs.journal_dir import prune

    removed = prune(directory, keep_days)
    if removed:
        log.emit(
            "journals_pruned",
            directory=directory,
            keep_days=keep_days,
            journals=[str(path) for path in removed],
        )


def _note_unfinished(directory: str, mine: str, log: EventLog) -> None:
    """Runs in the directory this one does not carry on: say so, or they are forgotten."""
    from bulkupdate.runs.journal_dir import unfinished

    for found in unfinished(directory, besides=mine):
        log.emit(
            "unfinished_run_left",
            journal=str(found.path),
            status=found.status,
            updated_at=found.updated_at,
            resume_command=resume_command(str(found.path)),
            report_command=shlex.join(["bulkupdate", "report", str(found.path)]),
        )


async def execute(options: RunOptions, durable: Durable, err: TextIO | None = None) -> int:
    """The run itself; reports to ``err`` and returns the exit code."""
    # The HTTP stack loads only for a real run, not for a dry run or a usage error.
    from bulkupdate.input.number_streams import open_input
    from bulkupdate.runs.events import EventLog
    from bulkupdate.runs.progress_bar import ProgressDisplay, count_lines

    err = err or sys.stderr
    journal = durable.journal
    api_key = options.resolved_api_key()
    # The account's numbers are read through the run's client, once it exists.
    stream = open_input(options.inputs) if options.account is None else None
    paths = list(options.inputs.paths)
    text = options.log_format == "text"
    show_bar = text and not options.quiet and err.isatty()
    total = count_lines(paths) if show_bar and stream is not None else None
    started = time.monotonic()
    interrupted = anyio.Event()
    with ProgressDisplay(err, total=total, enabled=show_bar) as bar:
        log = EventLog(
            bar.log_stream if show_bar else err,
            fmt="text" if text else "json",
            quiet=options.quiet,
        )
        log.emit(
            "run_started",
            journal=journal.path,
            inputs=paths,
            selection=None if options.account is None else options.account.describe(),
            kind=options.spec.kind.value,
            rate=options.rate,
            max_active_jobs=options.engine.max_active_jobs,
            resumed=durable.resume is not None,
            budget=None if options.budget is None else redacted_url(options.budget),
        )
        try:
            stats = await _run_until_signal(
                options, durable, stream, api_key, log, bar, interrupted
            )
        except Exception:
            # A refused key, an API that cannot be reached, a bug: the run stops; the
            # journal holds every step so far (each is written before it is taken), and
            # nothing failed that was not tried. It is left ready to resume.
            journal.finish("interrupted")
            if options.report:
                with contextlib.suppress(ReportNotWritten):  # the run's own error matters more
                    write_report_file(journal, options.report)
            log.emit("run_interrupted", resume_command=resume_command(journal.path))
            raise
    if stats is None or interrupted.is_set():
        journal.finish("interrupted")
        if options.report:
            write_report_file(journal, options.report)
        log.emit("run_interrupted", resume_command=resume_command(journal.path))
        return EXIT_INTERRUPTED
    totals = _journal_totals(journal)
    journal.finish("finished", totals.as_dict())
    code = EXIT_OK if totals.all_succeeded else EXIT_SOME_FAILED
    report_rows = write_report_file(journal, options.report) if options.report else None
    log.emit(
        "run_finished",
        totals=totals.as_dict(),
        elapsed_s=round(time.monotonic() - started, 3),
        exit_code=code,
        jobs=stats.jobs_created,
        requests=stats.requests,
        throttled=stats.throttled,
        errors=[
            {"code": c, "detail": d, "pointer": p, "numbers": n}
            for c, d, p, n in journal.error_counts()
        ],
        report=options.report,
    )
    if text and not options.quiet:
        with contextlib.suppress(OSError):  # stderr closed: the run's result still stands
            _print_details(err, journal, stats, options.report, report_rows)
    return code


async def _run_until_signal(
    options: RunOptions,
    durable: Durable,
    stream: InputStream | None,
    api_key: str,
    log: EventLog,
    bar: ProgressDisplay,
    interrupted: anyio.Event,
) -> EngineStats | None:
    """The engine, until it ends or SIGINT/SIGTERM stops it (then None)."""
    from bulkupdate.api.client import ApiClient
    from bulkupdate.budget import open_budget
    from bulkupdate.engine.pipeline import run_engine
    from bulkupdate.runs.embedded_sandbox import embedded_sandbox

    stats: EngineStats | None = None
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(_stop_on_signal, group.cancel_scope, interrupted)
            server: AbstractAsyncContextManager[str] = (
                embedded_sandbox(options.sandbox_config)
                if options.sandbox
                else nullcontext(options.resolved_base_url())
            )
            budget = open_budget(
                options.budget,
                api_key=api_key,
                rate=options.rate,
                max_active_jobs=options.engine.max_active_jobs,
                timeout=options.timeout,
            )
            budget.on_event = log.emit
            async with server as base_url, budget:
                if options.sandbox and options.log_format == "text" and not options.quiet:
                    log.emit("sandbox_serving", base_url=base_url)
                async with ApiClient(
                    api_key,
                    base_url=base_url,
                    rate=options.rate,
                    timeout=options.timeout,
                    governor=budget.governor,
                    allow_insecure_http=options.allow_insecure_http,
                ) as client:
                    client.governor.on_throttle = lambda wait, rate: log.emit(
                        "throttled", wait_s=round(wait, 3), rate=round(rate, 2)
                    )
                    chunks, fraction, resume = _engine_input(
                        options, durable, stream, client, log, bar
                    )
                    stats = await run_engine(
                        client,
                        options.spec,
                        chunks,
                        None,  # outcomes are in the journal
                        options.engine,
                        on_progress=bar.update,
                        on_event=log.emit,
                        input_fraction=fraction,
                        recorder=durable.journal,
                        resume=resume,
                        slots=budget.run_slots(),
                    )
            group.cancel_scope.cancel()  # stop listening for signals
    except BaseExceptionGroup as failure:
        known = first_known_error(failure)
        if known is None:
            raise
        raise known from None
    return stats


def _engine_input(
    options: RunOptions,
    durable: Durable,
    stream: InputStream | None,
    client: ApiClient,
    log: EventLog,
    bar: ProgressDisplay,
) -> tuple[AsyncIterator[Chunk], Callable[[], float | None], ResumeState | None]:
    """The engine's input: the files' chunks, or the account's numbers page by page."""
    if stream is not None:
        return stream.chunks, stream.fraction, durable.resume
    from bulkupdate.runs.account_input import AccountSource
    from bulkupdate.runs.account_pages import SelectionStore

    assert options.account is not None
    source = AccountSource(
        client,
        options.account,
        store=SelectionStore(durable.journal),  # carries on from the pages it has read
        on_event=log.emit,
        on_total=bar.set_total,
    )
    # The engine passes over the chunks an earlier run of input files recorded; the
    # source starts after the pages it recorded instead, so it skips nothing.
    resume = None if durable.resume is None else replace(durable.resume, chunks_read=0)
    return source.chunks(), source.fraction, resume


def resume_command(path: str) -> str:
    return shlex.join(["bulkupdate", "resume", path])


async def _stop_on_signal(scope: anyio.CancelScope, interrupted: anyio.Event) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            interrupted.set()
            scope.cancel()
            return


def _journal_totals(journal: Journal) -> Totals:
    counts = journal.counts()
    return Totals(
        succeeded=counts.get("succeeded", 0),
        failed=counts.get("failed", 0),
        rejected=counts.get("rejected", 0),
        duplicates=counts.get("duplicate", 0),
        skipped=counts.get("skipped", 0),
        retried=journal.retried_count(),
    )


def _print_details(
    err: TextIO, journal: Journal, stats: EngineStats, report: str | None, rows: int | None
) -> None:
    """What a person wants after the totals: what it cost, what went wrong and where."""
    print(
        f"bulkupdate: {stats.jobs_created:,} jobs, {stats.requests:,} requests, "
        f"{stats.throttled:,} throttled",
        file=err,
    )
    own = stats.ownership
    if own.unowned:
        spent = own.bisect_requests + own.inventory_requests + own.inventory_checks
        print(
            f"bulkupdate: {own.unowned:,} numbers not owned by the account "
            f"(finding them cost {spent:,} requests)",
            file=err,
        )
    if stats.reconciled:
        print(f"bulkupdate: {stats.reconciled:,} jobs found after their answer was lost", file=err)
    if stats.cap_refusals:
        print(
            f"bulkupdate: job cap lowered to {stats.final_job_cap} (other jobs on the account)",
            file=err,
        )
    # What the server and the input said is shown escaped: it is not ours to trust.
    errors = journal.error_counts()
    if errors:
        print("bulkupdate: failed numbers by error:", file=err)
        for code, detail, pointer, count in errors[:8]:
            where = f" at {printable(pointer, SHOWN)}" if pointer else ""
            text = printable(f"{code} {detail}", SHOWN)
            print(f"  {count:,} × {text}{where}", file=err)
    rejected = journal.rejections(5)
    if rejected:
        print("bulkupdate: rejected entries (first shown):", file=err)
        for source, line, raw, reason in rejected:
            print(f"  {printable(source)}:{line}: {printable(reason)}: {raw!r}", file=err)
    if report is not None:
        print(f"bulkupdate: report {printable(report)} ({rows or 0:,} rows)", file=err)
    print(f"bulkupdate: journal {printable(journal.path)}", file=err)


def write_report_file(journal: Journal, path: str) -> int:
    """Write the journal's per-entry report as JSON Lines; the number of rows.

    The path was checked before the run; if it cannot be written now (the disk filled,
    the folder went away) the run has still happened: ``ReportNotWritten``, not a
    usage error, whose exit code promises nothing was sent.
    """
    from bulkupdate.runs.status_and_report import write_report

    try:
        with open(path, "wb") as out:
            return write_report(journal, out, "jsonl")
    except OSError as exc:
        raise ReportNotWritten(
            f"--report {path}: cannot be written ({exc.strerror or exc}); the journal has "
            f"every entry: bulkupdate report {journal.path} --out FILE"
        ) from exc
