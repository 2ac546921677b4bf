"""The ``bulkupdate`` command: argv → settings → pipeline → exit code.

No business logic lives here. Known errors become one clear line on stderr and an exit
code (2 usage or spec, 3 authentication, 74 a report not written after the run, 75
journal in use); a closed pipe ends quietly; anything else is a bug, told in one line
(``last_resort.py``), exit 70.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, cast

from bulkupdate.commands import handle_report, handle_resume, handle_run, handle_status, tell
from bulkupdate.errors import (
    AuthError,
    BulkUpdateError,
    JournalInUse,
    ReportNotWritten,
    SpecError,
    UsageError,
)
from bulkupdate.input.sources import InputFormat
from bulkupdate.last_resort import quiet_closed_stdout, report_bug
from bulkupdate.runs.run_options import (
    EXIT_AUTH,
    EXIT_IN_USE,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REPORT_NOT_WRITTEN,
    EXIT_SOME_FAILED,
    EXIT_USAGE,
)
from bulkupdate.settings import OwnershipMode
from bulkupdate.version import __version__


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one escaped line on stderr, not a usage dump."""

    def error(self, message: str) -> NoReturn:
        tell(f"error: {message} (see {self.prog} --help)")
        raise SystemExit(EXIT_USAGE)


def build_parser(*, sandbox_flags: bool = True) -> argparse.ArgumentParser:
    """The command line's parser. ``sandbox_flags=False`` leaves out the flags of
    ``bulkupdate sandbox`` (the command is still listed): reading them imports the
    sandbox's modules, which a run has no use for."""
    parser = _Parser(
        prog="bulkupdate",
        description="Update phone numbers in bulk through Telnyx's phone-number jobs API.",
    )
    parser.add_argument("--version", action="version", version=f"bulkupdate {__version__}")
    commands = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", required=True, metavar="COMMAND"),
    )
    _add_run(commands)
    _add_resume(commands)
    _add_status(commands)
    _add_report(commands)
    _add_sandbox(commands, with_flags=sandbox_flags)
    return parser


def _add_run(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = commands.add_parser(
        "run",
        help="update every number in the input files, or the account's numbers that match",
        description=(
            "Read numbers from INPUT files (text, CSV/TSV, JSON Lines, gzip; - for stdin), "
            "or with --from-account from the account itself, submit them as update jobs of "
            "up to 1000 numbers, track every job and retry what failed for a transient "
            "reason. API key from TELNYX_API_KEY."
        ),
    )
    run.add_argument("inputs", nargs="*", metavar="INPUT", help="number lists; - reads stdin")
    what = run.add_argument_group("what to update")
    what.add_argument("--spec", metavar="FILE", help="the update as a JSON or TOML file")
    what.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="set a field, e.g. --set voice.call_forwarding.forwards_to=+13035559123 "
        "(repeatable; overrides --spec)",
    )
    what.add_argument(
        "--filter",
        dest="filters",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="only numbers that match, e.g. --filter tag=legacy (repeatable); with "
        "--from-account, the filters that choose the account's numbers",
    )
    what.add_argument(
        "--from-account",
        action="store_true",
        help="no input files: update the account's own numbers that match every --filter "
        "(at least one; GET /phone_numbers's filters, e.g. connection_id=ID, status=active, "
        "country_iso_alpha2=US), each exactly once even when the update moves it out of them",
    )
    reading = run.add_argument_group("reading the input")
    reading.add_argument(
        "--default-region", metavar="CC", help="region for national numbers, e.g. US"
    )
    reading.add_argument("--column", help="the CSV/TSV column or JSON key holding the numbers")
    reading.add_argument(
        "--format", choices=[f.value for f in InputFormat], help="input format (default: detect)"
    )
    reading.add_argument("--ids", action="store_true", help="read every entry as a phone-number id")
    reading.add_argument(
        "--strict-numbers",
        action="store_true",
        help="refuse numbers phonenumbers' metadata does not know (it lags new ranges)",
    )
    server = run.add_argument_group("the server")
    server.add_argument("--base-url", help="API base URL (default: TELNYX_BASE_URL, else Telnyx)")
    server.add_argument(
        "--sandbox",
        action="store_true",
        help="run against a local sandbox started in-process (no real numbers change)",
    )
    server.add_argument("--sandbox-config", metavar="FILE", help="sandbox settings (TOML)")
    server.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="allow a plain http:// --base-url to a host other than this machine "
        "(the API key then crosses the network unencrypted)",
    )
    pace = run.add_argument_group("pace")
    pace.add_argument(
        "--rate", type=float, default=20.0, metavar="N", help="requests per second (default: 20)"
    )
    pace.add_argument(
        "--max-active-jobs",
        type=int,
        default=20,
        metavar="N",
        help="jobs in progress at once (default: 20)",
    )
    pace.add_argument(
        "--max-attempts",
        type=int,
        default=5,
        metavar="N",
        help="jobs a number may be sent in (default: 5)",
    )
    pace.add_argument(
        "--batch-size",
        type=int,
        default=1000,
        metavar="N",
        help="numbers a job (default and most: 1000)",
    )
    pace.add_argument(
        "--ownership",
        choices=[m.value for m in OwnershipMode],
        default=OwnershipMode.AUTO.value,
        help="how to find numbers the account does not own (default: auto)",
    )
    pace.add_argument(
        "--timeout", type=float, default=60.0, metavar="S", help="seconds a request may take"
    )
    _add_budget_flag(pace)
    output = run.add_argument_group("journal and output")
    output.add_argument(
        "--journal",
        metavar="PATH",
        help="where to record the run (default: a new file in ./bulkupdate-runs/); an "
        "unfinished journal of the same run is resumed, a finished one of other work refused",
    )
    output.add_argument(
        "--journal-dir",
        metavar="DIR",
        help="for a command line run again and again (cron): resume the unfinished run of "
        "the same inputs and update in DIR, else start a new journal there",
    )
    output.add_argument(
        "--keep-days",
        type=int,
        metavar="N",
        help="with --journal-dir, remove journals that finished more than N days ago "
        "(never one unfinished or in use)",
    )
    output.add_argument(
        "--force",
        action="store_true",
        help="with an existing --journal, resume even if an input changed",
    )
    output.add_argument(
        "--dry-run", action="store_true", help="read, check and batch; print the plan; send nothing"
    )
    _add_output_flags(output)
    run.set_defaults(handler=handle_run)


def _add_budget_flag(group: argparse._ActionsContainer) -> None:
    group.add_argument(
        "--budget",
        metavar="URL",
        help="share the account's request pace and job slots with every process using "
        "this Redis URL and API key (redis://HOST:PORT/DB, rediss:// for TLS; needs "
        'pip install "bulkupdate[redis]")',
    )


def _add_output_flags(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--report", metavar="FILE", help="write one JSON line per input entry")
    group.add_argument(
        "--log-format",
        choices=["text", "json"],
        default="text",
        help="events on stderr: short text, or one JSON object per event (default: text)",
    )
    group.add_argument(
        "--quiet", action="store_true", help="no progress bar and only the final summary"
    )


def _add_resume(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    resume = commands.add_parser(
        "resume",
        help="carry on an unfinished run from its journal",
        description=(
            "Carry on the run a journal records: numbers already final are not sent again, "
            "jobs under way are watched again, POSTs whose answer was lost are looked for in "
            "the jobs list. The API key comes from TELNYX_API_KEY."
        ),
    )
    resume.add_argument("journal", metavar="JOURNAL")
    resume.add_argument("--force", action="store_true", help="resume even if an input file changed")
    _add_budget_flag(resume)
    _add_output_flags(resume.add_argument_group("output"))
    resume.set_defaults(handler=handle_resume)


def _add_status(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = commands.add_parser(
        "status",
        help="how a run stands: counts by state, jobs in flight, errors, throughput",
    )
    status.add_argument("journal", metavar="JOURNAL")
    status.add_argument("--json", action="store_true", help="print it as one JSON object")
    status.set_defaults(handler=handle_status)


def _add_report(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = commands.add_parser(
        "report",
        help="the per-entry report of a run, finished or not",
    )
    report.add_argument("journal", metavar="JOURNAL")
    report.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    report.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    report.set_defaults(handler=handle_report)


def _add_sandbox(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], *, with_flags: bool
) -> None:
    sandbox = commands.add_parser(
        "sandbox",
        help="serve a local Telnyx-compatible jobs API for trials and tests",
        description="Serve a strict local server that behaves like Telnyx's phone-number jobs API.",
    )
    if not with_flags:
        return
    from bulkupdate.sandbox import command as sandbox_command

    sandbox_command.configure_parser(sandbox)
    sandbox.set_defaults(handler=sandbox_command.run_command)


def _command_of(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` names: its first word that is not a flag (the top level's
    flags, ``--help`` and ``--version``, take no value)."""
    return next((word for word in argv if not word.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(sandbox_flags=_command_of(argv) == "sandbox")
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        code: int = handler(args)
        return code
    except SpecError as exc:
        text = str(exc)
        tell(f"{text}; nothing was sent" if "\n" not in text else f"{text}\nnothing was sent")
        return EXIT_USAGE
    except UsageError as exc:
        tell(f"error: {exc}")
        return EXIT_USAGE
    except JournalInUse as exc:
        tell(str(exc))
        return EXIT_IN_USE
    except ReportNotWritten as exc:
        tell(f"error: {exc}")
        return EXIT_REPORT_NOT_WRITTEN
    except AuthError as exc:
        tell(
            f"the API refused the key ({exc}); check TELNYX_API_KEY and its "
            "permissions. The run stopped; no number was marked failed that was not tried."
        )
        return EXIT_AUTH
    except BulkUpdateError as exc:
        tell(f"error: {exc}")
        return EXIT_SOME_FAILED
    except BrokenPipeError:
        quiet_closed_stdout()  # `bulkupdate report RUN | head`: the reader has had enough
        return EXIT_OK
    except KeyboardInterrupt:  # outside a run (which handles SIGINT itself)
        tell("interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:  # the last resort: a bug, told in one line, never a traceback
        report_bug(exc, command=args.command, log_format=getattr(args, "log_format", "text"))
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
