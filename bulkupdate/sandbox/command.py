"""``bulkupdate sandbox``: serve the sandbox until Ctrl-C."""

from __future__ import annotations

import argparse


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)


def run_command(args: argparse.Namespace) -> int:
    raise SystemExit("the sandbox is not built yet")
