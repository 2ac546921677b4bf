"""The ``bulkupdate`` command: argv → settings → pipeline → exit code.

No business logic lives here.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bulkupdate import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bulkupdate",
        description="Update phone numbers in bulk through Telnyx's phone-number jobs API.",
    )
    parser.add_argument("--version", action="version", version=f"bulkupdate {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from bulkupdate.sandbox import command as sandbox_command

    sandbox = commands.add_parser(
        "sandbox",
        help="serve a local Telnyx-compatible jobs API for trials and tests",
        description="Serve a strict local server that behaves like Telnyx's phone-number jobs API.",
    )
    sandbox_command.configure_parser(sandbox)
    sandbox.set_defaults(handler=sandbox_command.run_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
