"""``bulkupdate run``: settings in, a run (or a dry-run plan) out, an exit code back.

Everything that can be wrong with the settings is found before the first request: the
spec, the flags, the input files, the report path, the API key.
"""

from __future__ import annotations

import os
import sys
import time
import tomllib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, TextIO

import anyio
import orjson

from bulkupdate.batching import Batcher, check_batch_size
from bulkupdate.errors import UsageError
from bulkupdate.inputs import NumberFiles
from bulkupdate.ledger import Progress
from bulkupdate.outcomes import Outcome
from bulkupdate.report import JsonlReport, SummarySink, Tee, summary_lines
from bulkupdate.settings import DEFAULT_BASE_URL, EngineSettings, OwnershipMode
from bulkupdate.spec import UpdateSpec

if TYPE_CHECKING:
    from bulkupdate.pipeline import EngineStats

SANDBOX_KEY = "sandbox-key"

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_INTERRUPTED = 130


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Everything ``bulkupdate run`` was asked to do, checked."""

    inputs: NumberFiles
    spec: UpdateSpec
    engine: EngineSettings
    rate: float
    base_url: str | None
    api_key: str | None
    report: str | None
    sandbox: bool
    sandbox_config: str | None
    dry_run: bool
    timeout: float

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise UsageError(f"--rate must be above zero, got {self.rate}")
        if not self.timeout > 0:
            raise UsageError(f"--timeout must be above zero, got {self.timeout}")
        check_batch_size(self.engine.batch_size)
        if self.sandbox and self.base_url:
            raise UsageError("--sandbox and --base-url cannot go together: pick one server")
        if self.sandbox_config and not self.sandbox:
            raise UsageError("--sandbox-config needs --sandbox")

    def resolved_base_url(self) -> str:
        return self.base_url or os.environ.get("TELNYX_BASE_URL") or DEFAULT_BASE_URL

    def resolved_api_key(self) -> str:
        key = self.api_key or os.environ.get("TELNYX_API_KEY", "")
        if self.sandbox:
            return key or SANDBOX_KEY
        if not key:
            raise UsageError("no API key: set TELNYX_API_KEY (or use --sandbox to try it out)")
        return key


def dry_run(options: RunOptions, out: TextIO) -> int:
    """Read, validate and batch every entry; print the plan. Nothing is sent."""
    scanner = options.inputs.scanner()
    batcher = Batcher(options.engine.batch_size)
    summary = SummarySink()
    first = None
    batches = 0
    for chunk in scanner.scan_paths(options.inputs.paths):
        for rejection in chunk.rejections:
            summary.record(Outcome.rejected(rejection))
        for duplicate in chunk.duplicates:
            summary.record(Outcome.duplicate(duplicate))
        for batch in batcher.add(chunk.values):
            first = first or batch
            batches += 1
    for batch in batcher.flush():
        first = first or batch
        batches += 1
    counts = scanner.counts
    spec = options.spec
    url = options.resolved_base_url() + spec.kind.path
    query = spec.query_string()
    print("Dry run: nothing was sent.", file=out)
    print(f"  entries read:  {counts.entries:,}", file=out)
    print(f"  valid:         {counts.valid:,}", file=out)
    print(f"  rejected:      {counts.rejected:,}", file=out)
    for outcome in summary.rejections:
        reason = outcome.errors[0].get("detail")
        print(f"    {outcome.source}:{outcome.line}: {reason}: {outcome.raw!r}", file=out)
    print(f"  duplicates:    {counts.duplicates:,}", file=out)
    print(f"  batches:       {batches:,} (at most {options.engine.batch_size} each)", file=out)
    print(f"  request:       POST {url}{'?' + query if query else ''}", file=out)
    if first is not None:
        body = orjson.loads(spec.encode_body(first.values))
        print("  first batch body:", file=out)
        text = orjson.dumps(body, option=orjson.OPT_INDENT_2).decode()
        for line in text.splitlines():
            print(f"    {line}", file=out)
    return EXIT_SOME_FAILED if counts.rejected else EXIT_OK


async def execute(
    options: RunOptions,
    err: TextIO | None = None,
    *,
    on_progress: Callable[[Progress], None] | None = None,
) -> int:
    """The run itself; prints the summary to ``err`` and returns the exit code."""
    # The HTTP stack loads only for a real run, not for a dry run or a usage error.
    from bulkupdate.client import ApiClient
    from bulkupdate.inputs import open_input
    from bulkupdate.pipeline import run_engine

    err = err or sys.stderr
    api_key = options.resolved_api_key()
    report = JsonlReport(options.report) if options.report else None
    summary = SummarySink()
    sink = Tee((summary, report)) if report else summary
    stream = open_input(options.inputs)
    started = time.monotonic()
    try:
        async with _server(options) as base_url:
            if options.sandbox:
                print(f"bulkupdate: sandbox serving at {base_url}", file=err)
            async with ApiClient(
                api_key, base_url=base_url, rate=options.rate, timeout=options.timeout
            ) as client:
                stats = await run_engine(
                    client,
                    options.spec,
                    stream.chunks,
                    sink,
                    options.engine,
                    on_progress=on_progress,
                    input_fraction=stream.fraction,
                )
    finally:
        if report is not None:
            report.close()
    elapsed = time.monotonic() - started
    for line in summary_lines(summary, _spending(stats, elapsed, report)):
        print(f"bulkupdate: {line}" if not line.startswith("  ") else line, file=err)
    return EXIT_OK if summary.totals.all_succeeded else EXIT_SOME_FAILED


def _spending(stats: EngineStats, elapsed: float, report: JsonlReport | None) -> list[str]:
    lines = [
        f"  {stats.jobs_created:,} jobs, {stats.requests:,} requests "
        f"({stats.throttled:,} throttled), {elapsed:.1f} s"
    ]
    own = stats.ownership
    if own.unowned or own.refused_batches:
        lines.append(
            f"  {own.unowned:,} numbers not owned by the account; ownership checks cost "
            f"{own.bisect_requests + own.inventory_requests:,} requests"
        )
    if stats.reconciled:
        lines.append(f"  {stats.reconciled:,} jobs found after their answer was lost")
    if stats.cap_refusals:
        lines.append(f"  job cap lowered to {stats.final_job_cap} (other jobs on the account)")
    if report is not None:
        lines.append(f"  report: {report.path} ({report.rows:,} rows)")
    return lines


@asynccontextmanager
async def _server(options: RunOptions) -> AsyncIterator[str]:
    """The base URL to use: the embedded sandbox's, or the configured API's."""
    if not options.sandbox:
        yield options.resolved_base_url()
        return
    from bulkupdate.sandbox import Sandbox

    config = sandbox_config(options.sandbox_config)
    async with Sandbox(config, host="127.0.0.1", port=0) as sandbox:
        yield sandbox.base_url


def sandbox_config(path: str | None) -> Any:
    """The embedded sandbox's settings: quick jobs by default, or a TOML file's."""
    from bulkupdate.sandbox import SandboxConfig

    settings: dict[str, Any] = {"op_ms": 1.0, "pending_ms": 20.0}
    if path is not None:
        try:
            with open(path, "rb") as file:
                loaded = tomllib.load(file)
        except OSError as exc:
            raise UsageError(f"--sandbox-config {path}: cannot be read ({exc.strerror})") from exc
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"--sandbox-config {path}: not valid TOML ({exc})") from exc
        known = {f.name for f in fields(SandboxConfig)} - {"exchange_hook", "clock"}
        unknown = sorted(set(loaded) - known)
        if unknown:
            raise UsageError(
                f"--sandbox-config {path}: unknown settings {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
        settings.update(loaded)
    try:
        return SandboxConfig(**settings)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"--sandbox-config {path}: {exc}") from exc


def engine_settings(
    max_active_jobs: int, max_attempts: int, batch_size: int, ownership: str
) -> EngineSettings:
    return EngineSettings(
        max_active_jobs=max_active_jobs,
        max_attempts=max_attempts,
        batch_size=batch_size,
        ownership=OwnershipMode(ownership),
    )


def run_main(options: RunOptions) -> int:
    """Run ``options`` to an exit code (130 when interrupted)."""
    if options.dry_run:
        return dry_run(options, sys.stdout)
    try:
        return anyio.run(execute, options)
    except KeyboardInterrupt:
        print("bulkupdate: interrupted; outcomes known so far were kept", file=sys.stderr)
        return EXIT_INTERRUPTED
