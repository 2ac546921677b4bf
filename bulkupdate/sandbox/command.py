"""``bulkupdate sandbox``: serve the sandbox until Ctrl-C.

The first line of stdout is the base URL alone (flushed), so a script can start the command
with ``--port 0`` and read where it listens; a short human summary follows.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import signal
import sys
from typing import TYPE_CHECKING, Any

from bulkupdate.sandbox.config import LISTING_STATUSES, RATE_MODELS, SandboxConfig
from bulkupdate.sandbox.numberfile import (
    provision_numbers,
    read_inventory,
    read_numbers,
    write_numbers,
)

if TYPE_CHECKING:
    from bulkupdate.sandbox.server import Sandbox

DEFAULTS = SandboxConfig()
FREEZE_EVERY = 1.0  # seconds


def configure_parser(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on (default: loopback)")
    add(
        "--port",
        type=_port,
        metavar="PORT",
        default=8765,
        help="port; 0 picks a free one (default: 8765)",
    )
    add("--api-key", metavar="KEY", help="accept only this bearer key (default: any non-empty key)")

    limits = parser.add_argument_group("limits")
    _number(
        limits, "--rate", DEFAULTS.rate, "requests per second per key", metavar="N", positive=True
    )
    _number(
        limits,
        "--rate-window",
        DEFAULTS.rate_window,
        "seconds per rate window",
        metavar="S",
        positive=True,
    )
    limits.add_argument(
        "--rate-model",
        choices=RATE_MODELS,
        default=DEFAULTS.rate_model,
        help="how the limit is kept: fixed windows on the server's clock, a sliding log, or a "
        "token bucket (GCRA) (default: fixed)",
    )
    limits.add_argument(
        "--rate-burst",
        type=_count_type,
        metavar="N",
        help="token bucket: requests admitted at once (default: the requests per window)",
    )
    limits.add_argument(
        "--no-rate-headers",
        dest="rate_headers",
        action="store_false",
        help="send no x-ratelimit-* headers (as behind a proxy that strips them)",
    )
    limits.add_argument(
        "--no-count-refused",
        dest="count_refused",
        action="store_false",
        help="do not charge refused (429) requests against the limit",
    )
    limits.add_argument(
        "--retry-after", action="store_true", help="add a Retry-After header to 429 answers"
    )
    _count(limits, "--job-cap", DEFAULTS.job_cap, "pending or in-progress jobs allowed")
    _count(
        limits,
        "--emergency-job-cap",
        DEFAULTS.emergency_job_cap,
        "pending or in-progress emergency-settings jobs allowed",
    )

    jobs = parser.add_argument_group("jobs")
    _number(
        jobs, "--op-ms", DEFAULTS.op_ms, "milliseconds each number takes in a job", metavar="MS"
    )
    _number(
        jobs, "--pending-ms", DEFAULTS.pending_ms, "milliseconds before a job starts", metavar="MS"
    )
    _number(
        jobs,
        "--etc-error",
        DEFAULTS.etc_error,
        "jobs take this share longer than the etc they announce (0.5: half as long again)",
        metavar="X",
    )
    _number(
        jobs,
        "--job-ttl",
        DEFAULTS.job_ttl,
        "seconds before an unfinished job expires",
        metavar="S",
        positive=True,
    )

    faults = parser.add_argument_group("faults (deterministic for a given --seed)")
    _rate(faults, "--fail-rate", "per-number transient failures inside jobs (10007)")
    _rate(faults, "--error-rate", "requests answered 500 without doing anything")
    _rate(faults, "--slow-rate", "requests answered late")
    _number(faults, "--slow-ms", DEFAULTS.slow_ms, "how late, in milliseconds", metavar="MS")
    _rate(faults, "--drop-after-create-rate", "job POSTs that create the job, then hang up")
    _rate(faults, "--error-after-create-rate", "job POSTs that create the job, then answer 500")
    _rate(faults, "--stall-rate", "jobs that stall part-way and expire after --job-ttl")
    faults.add_argument(
        "--seed", type=int, default=DEFAULTS.seed, metavar="N", help="fault seed (default: 0)"
    )
    faults.add_argument(
        "--invalid-numbers", metavar="FILE", help="numbers that always fail in jobs"
    )
    faults.add_argument("--flaky-numbers", metavar="FILE", help="numbers that fail once, then work")
    faults.add_argument(
        "--listing-status",
        type=int,
        choices=LISTING_STATUSES,
        metavar="STATUS",
        help="GET /phone_numbers answers this error (403, 404 or 500) while jobs work",
    )

    numbers = parser.add_argument_group("numbers the account owns")
    owner = numbers.add_mutually_exclusive_group()
    owner.add_argument(
        "--own-all", action="store_true", help="every valid +E.164 number (the default)"
    )
    owner.add_argument(
        "--inventory",
        metavar="FILE",
        help="the numbers in FILE, one per line; a line may be a JSON object giving the "
        'settings a number starts with: {"phone_number": "+13125550100", "connection_id": "7"}',
    )
    owner.add_argument(
        "--provision", type=_count_type, metavar="N", help="N generated numbers, written to a file"
    )
    numbers.add_argument(
        "--provision-out", metavar="FILE", help="where --provision writes (default: a temp file)"
    )
    numbers.add_argument(
        "--unowned-numbers", metavar="FILE", help="numbers never owned, even with --own-all"
    )


def run_command(args: argparse.Namespace) -> int:
    try:
        config, notes = _settings(args)
        from bulkupdate.sandbox.server import Sandbox

        sandbox = Sandbox(config, host=args.host, port=args.port)
    except (ValueError, OSError) as exc:
        print(f"bulkupdate sandbox: error: {exc}", file=sys.stderr)
        return 2
    # The account's work runs on a thread of its own beside the event loop (see app.py):
    # hand the interpreter between them often, so a request is taken as it arrives.
    sys.setswitchinterval(0.0005)
    try:
        asyncio.run(_serve(sandbox, notes))
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(f"bulkupdate sandbox: error: cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0


def _settings(args: argparse.Namespace) -> tuple[SandboxConfig, list[str]]:
    """Flags → config, plus what the summary should say about the numbers."""
    if args.provision_out is not None and args.provision is None:
        raise ValueError("--provision-out needs --provision N")
    inventory: list[str] = []
    settings: dict[str, dict[str, Any]] = {}
    if args.inventory is not None:
        inventory, settings = read_inventory(args.inventory)
        owned = f"{len(inventory)} numbers from {args.inventory}"
        if settings:
            owned += f" ({len(settings)} with settings of their own)"
    elif args.provision is not None:
        inventory = provision_numbers(args.provision, seed=args.seed)
        path = write_numbers(inventory, args.provision_out)
        owned = f"{len(inventory)} numbers provisioned to {path}"
    else:
        owned = "every valid +E.164 number it sees"

    def numbers(path: str | None) -> frozenset[str]:
        return frozenset(read_numbers(path)) if path is not None else frozenset()

    config = SandboxConfig(
        api_key=args.api_key,
        rate=args.rate,
        rate_window=args.rate_window,
        rate_model=args.rate_model,
        rate_burst=args.rate_burst,
        rate_headers=args.rate_headers,
        count_refused=args.count_refused,
        retry_after=args.retry_after,
        listing_status=args.listing_status,
        job_cap=args.job_cap,
        emergency_job_cap=args.emergency_job_cap,
        op_ms=args.op_ms,
        etc_error=args.etc_error,
        pending_ms=args.pending_ms,
        job_ttl=args.job_ttl,
        fail_rate=args.fail_rate,
        error_rate=args.error_rate,
        slow_rate=args.slow_rate,
        slow_ms=args.slow_ms,
        drop_after_create_rate=args.drop_after_create_rate,
        error_after_create_rate=args.error_after_create_rate,
        stall_rate=args.stall_rate,
        seed=args.seed,
        own_all=args.inventory is None and args.provision is None,
        inventory=tuple(inventory),
        number_settings=settings,
        unowned_numbers=numbers(args.unowned_numbers),
        invalid_numbers=numbers(args.invalid_numbers),
        flaky_numbers=numbers(args.flaky_numbers),
    )
    return config, [owned]


async def _serve(sandbox: Sandbox, notes: list[str]) -> None:
    await sandbox.start()
    try:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        # Our own handlers, so Ctrl-C stops cleanly even when the parent started us with
        # SIGINT ignored (as shells do for background jobs). Windows has none: there
        # KeyboardInterrupt ends asyncio.run and run_command returns 0. Installed before
        # the first line goes out: a parent may signal as soon as it has read it.
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signum, stop.set)
        print(sandbox.base_url, flush=True)
        print(_summary(sandbox, notes), flush=True)
        async with asyncio.TaskGroup() as tasks:
            keeper = tasks.create_task(_keep_out_of_the_collector())
            await stop.wait()
            keeper.cancel()
    finally:
        await sandbox.stop()


async def _keep_out_of_the_collector() -> None:
    """Move what the account has built so far out of the garbage collector's sight.

    An account grows by hundreds of thousands of objects (numbers, jobs, their operation
    lists), which live as long as it does and hold no cycles; a full collection scanning
    them all stops the process for a tenth of a second, and with it the rate limiter.
    Frozen objects are still freed when the last reference goes; only new ones are
    scanned.
    """
    while True:
        await asyncio.sleep(FREEZE_EVERY)
        gc.freeze()


def _summary(sandbox: Sandbox, notes: list[str]) -> str:
    config = sandbox.config
    faults = [
        f"{name.removesuffix('_rate').replace('_', '-')} {value:g}"
        for name, value in (
            ("fail_rate", config.fail_rate),
            ("error_rate", config.error_rate),
            ("slow_rate", config.slow_rate),
            ("drop_after_create_rate", config.drop_after_create_rate),
            ("error_after_create_rate", config.error_after_create_rate),
            ("stall_rate", config.stall_rate),
        )
        if value
    ]
    lines = [
        "bulkupdate sandbox: a strict Telnyx-compatible phone-number jobs API",
        "  auth     " + ("the key given with --api-key" if config.api_key else "any bearer key"),
        f"  numbers  {notes[0]}",
        f"  limits   {config.limit_per_window} requests per {config.rate_window:g} s per key "
        f"({_describe_rate(config)}), "
        f"{config.job_cap} active jobs ({config.emergency_job_cap} emergency)"
        + (", Retry-After on 429" if config.retry_after else ""),
        f"  jobs     {config.op_ms:g} ms per number after {config.pending_ms:g} ms pending, "
        f"expire after {config.job_ttl:g} s"
        + (f", {config.etc_error:.0%} longer than their etc" if config.etc_error else ""),
        "  faults   " + (", ".join(faults) + f" (seed {config.seed})" if faults else "none"),
        f"  stats    GET {sandbox.url}/_sandbox/stats (POST /_sandbox/reset clears them)",
        "  Ctrl-C to stop",
    ]
    return "\n".join(lines)


def _describe_rate(config: SandboxConfig) -> str:
    model = config.rate_model
    if model == "token-bucket":
        model += f", burst {config.rate_burst or config.limit_per_window}"
    if not config.rate_headers:
        model += ", no rate headers"
    if not config.count_refused:
        model += ", 429s not charged"
    return model


# Flag value types: a bad value is an argparse error (usage, message, exit 2).


def _port(text: str) -> int:
    value = _int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, not {value}")
    return value


def _count_type(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def _non_negative(text: str) -> float:
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def _positive(text: str) -> float:
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


def _fraction(text: str) -> float:
    value = _float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def _number(
    group: argparse._ArgumentGroup,
    flag: str,
    default: float,
    text: str,
    *,
    metavar: str,
    positive: bool = False,
) -> None:
    kind = _positive if positive else _non_negative
    group.add_argument(
        flag, type=kind, default=default, metavar=metavar, help=f"{text} (default: {default:g})"
    )


def _count(group: argparse._ArgumentGroup, flag: str, default: int, text: str) -> None:
    group.add_argument(
        flag, type=_count_type, default=default, metavar="N", help=f"{text} (default: {default})"
    )


def _rate(group: argparse._ArgumentGroup, flag: str, text: str) -> None:
    group.add_argument(
        flag, type=_fraction, default=0.0, metavar="P", help=f"{text}, 0 to 1 (default: 0)"
    )
