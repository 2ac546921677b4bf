"""The ``bulkupdate`` command: argv → settings → pipeline → exit code.

No business logic lives here. Known errors become one clear line on stderr and an exit
code (2 usage or spec, 3 authentication); nothing else is caught.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from bulkupdate.errors import AuthError, BulkUpdateError, SpecError, UsageError
from bulkupdate.inputs import NumberFiles
from bulkupdate.runner import (
    EXIT_AUTH,
    EXIT_SOME_FAILED,
    EXIT_USAGE,
    RunOptions,
    engine_settings,
    run_main,
)
from bulkupdate.settings import OwnershipMode
from bulkupdate.sources import InputFormat
from bulkupdate.spec import load_update_spec
from bulkupdate.version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bulkupdate",
        description="Update phone numbers in bulk through Telnyx's phone-number jobs API.",
    )
    parser.add_argument("--version", action="version", version=f"bulkupdate {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run(commands)
    _add_sandbox(commands)
    return parser


def _add_run(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = commands.add_parser(
        "run",
        help="update every number in the input files",
        description=(
            "Read numbers from INPUT files (text, CSV/TSV, JSON Lines, gzip; - for stdin), "
            "submit them as update jobs of up to 1000 numbers, track every job and retry "
            "what failed for a transient reason. API key from TELNYX_API_KEY."
        ),
    )
    run.add_argument("inputs", nargs="+", metavar="INPUT", help="number lists; - reads stdin")
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
        help="only numbers that match, e.g. --filter tag=legacy (repeatable)",
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
    output = run.add_argument_group("output")
    output.add_argument("--report", metavar="FILE", help="write one JSON line per input entry")
    output.add_argument(
        "--dry-run", action="store_true", help="read, check and batch; print the plan; send nothing"
    )
    run.set_defaults(handler=_run)


def _add_sandbox(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from bulkupdate.sandbox import command as sandbox_command

    sandbox = commands.add_parser(
        "sandbox",
        help="serve a local Telnyx-compatible jobs API for trials and tests",
        description="Serve a strict local server that behaves like Telnyx's phone-number jobs API.",
    )
    sandbox_command.configure_parser(sandbox)
    sandbox.set_defaults(handler=sandbox_command.run_command)


def _run(args: argparse.Namespace) -> int:
    options = RunOptions(
        inputs=NumberFiles(
            *args.inputs,
            default_region=args.default_region,
            column=args.column,
            ids=args.ids,
            strict=args.strict_numbers,
            input_format=InputFormat(args.format) if args.format else None,
        ),
        spec=load_update_spec(args.spec, args.sets, args.filters),
        engine=engine_settings(
            args.max_active_jobs, args.max_attempts, args.batch_size, args.ownership
        ),
        rate=args.rate,
        base_url=args.base_url,
        api_key=None,
        report=args.report,
        sandbox=args.sandbox,
        sandbox_config=args.sandbox_config,
        dry_run=args.dry_run,
        timeout=args.timeout,
    )
    options.inputs.check()
    return run_main(options)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except SpecError as exc:
        print(f"bulkupdate: {exc}", file=sys.stderr)
        print("bulkupdate: nothing was sent", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as exc:
        print(f"bulkupdate: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except AuthError as exc:
        print(
            f"bulkupdate: the API refused the key ({exc}); check TELNYX_API_KEY and its "
            "permissions. The run stopped; no number was marked failed that was not tried.",
            file=sys.stderr,
        )
        return EXIT_AUTH
    except BulkUpdateError as exc:
        print(f"bulkupdate: error: {exc}", file=sys.stderr)
        return EXIT_SOME_FAILED


if __name__ == "__main__":
    sys.exit(main())
