"""What each of the command's subcommands does with its parsed arguments, and how it tells
the person at the terminal (``tell``). The flags themselves are ``cli.py``'s.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from bulkupdate.credentials import without_key
from bulkupdate.errors import (
    UsageError,
)
from bulkupdate.escaping import printable_lines
from bulkupdate.input.number_streams import NumberFiles
from bulkupdate.input.sources import InputFormat
from bulkupdate.request.spec import load_account_update, load_update_spec
from bulkupdate.runs.run_options import EXIT_OK, RunOptions
from bulkupdate.settings import EngineSettings, OwnershipMode


def handle_run(args: argparse.Namespace) -> int:
    account = None
    if args.from_account:
        _no_reading_flags(args)
        spec, account = load_account_update(args.spec, args.sets, args.filters)
    else:
        spec = load_update_spec(args.spec, args.sets, args.filters)
    options = RunOptions(
        inputs=NumberFiles(
            *args.inputs,
            default_region=args.default_region,
            column=args.column,
            ids=args.ids,
            strict=args.strict_numbers,
            input_format=InputFormat(args.format) if args.format else None,
        ),
        spec=spec,
        account=account,
        engine=EngineSettings(
            max_active_jobs=args.max_active_jobs,
            max_attempts=args.max_attempts,
            batch_size=args.batch_size,
            ownership=OwnershipMode(args.ownership),
        ),
        rate=args.rate,
        base_url=args.base_url,
        report=args.report,
        sandbox=args.sandbox,
        sandbox_config=args.sandbox_config,
        allow_insecure_http=args.allow_insecure_http,
        dry_run=args.dry_run,
        timeout=args.timeout,
        journal=args.journal,
        journal_dir=args.journal_dir,
        keep_days=args.keep_days,
        force=args.force,
        log_format=args.log_format,
        quiet=args.quiet,
        budget=args.budget,
    )
    options.inputs.check()
    from bulkupdate.runs.run_command import run_main

    return run_main(options)


def _no_reading_flags(args: argparse.Namespace) -> None:
    given = [
        flag
        for flag, value in (
            ("--default-region", args.default_region),
            ("--column", args.column),
            ("--format", args.format),
            ("--ids", args.ids),
            ("--strict-numbers", args.strict_numbers),
        )
        if value
    ]
    if given:
        raise UsageError(
            f"{', '.join(given)} say how to read input files; --from-account reads none "
            "(the account's listing gives +E.164 numbers)"
        )


def handle_resume(args: argparse.Namespace) -> int:
    from bulkupdate.runs.run_command import run_main
    from bulkupdate.runs.start_or_resume import Durable, open_locked, pick_up

    journal, lock = open_locked(args.journal)
    try:
        options = RunOptions.from_settings(
            journal.settings,
            journal=args.journal,
            report=args.report,
            log_format=args.log_format,
            quiet=args.quiet,
            force=args.force,
            budget=args.budget,
        )
        options.resolved_api_key()
        durable = Durable(journal, pick_up(journal, force=args.force), lock)
    except BaseException:
        journal.close()
        lock.release()
        raise
    return run_main(options, resume=durable)


def handle_status(args: argparse.Namespace) -> int:
    import orjson

    from bulkupdate.runs.journal import Journal
    from bulkupdate.runs.status_and_report import status_dict, status_lines

    journal = Journal.open(args.journal)
    try:
        if args.json:
            sys.stdout.write(orjson.dumps(status_dict(journal)).decode() + "\n")
        else:
            for line in status_lines(journal):
                print(line)  # escaped by status_lines
    finally:
        journal.close()
    return EXIT_OK


def handle_report(args: argparse.Namespace) -> int:
    from bulkupdate.runs.journal import Journal
    from bulkupdate.runs.output_paths import check_report_path
    from bulkupdate.runs.status_and_report import write_report

    journal = Journal.open(args.journal)
    try:
        if args.out:
            inputs = [str(item.get("path")) for item in journal.settings.get("inputs", [])]
            check_report_path(args.out, flag="--out", inputs=inputs, journal=[args.journal])
            try:
                out = open(args.out, "wb")  # noqa: SIM115
            except OSError as exc:
                raise UsageError(f"--out {args.out}: cannot be written ({exc.strerror})") from exc
            with out:
                rows = write_report(journal, out, args.format)
            tell(f"{rows:,} rows to {args.out}")
        else:
            write_report(journal, sys.stdout.buffer, args.format)
            sys.stdout.flush()
    finally:
        journal.close()
    return EXIT_OK


def tell(message: str) -> None:
    """One message for the person on stderr, its every line escaped and prefixed.

    Messages quote file names, input and the server's answers: whatever control
    characters they hold are written as escapes, never sent to the terminal; and the
    API key, should anything ever quote it, is not shown.
    """
    text = without_key(printable_lines(message), os.environ.get("TELNYX_API_KEY"))
    with contextlib.suppress(OSError):  # stderr is closed: there is no one to tell
        for line in text.split("\n"):
            prefix = "bulkupdate: " if not line.startswith("  ") else ""
            print(f"{prefix}{line}", file=sys.stderr)
