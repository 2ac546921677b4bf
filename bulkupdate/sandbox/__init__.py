"""A strict local server that behaves like Telnyx's phone-number jobs API.

It never imports the client side of bulkupdate: its parsing and validation are its own, so a
client encoding bug shows up as a refusal instead of being mirrored. Start it with
``bulkupdate sandbox`` or in-process::

    from bulkupdate.sandbox import Sandbox, SandboxConfig

    async with Sandbox(SandboxConfig(op_ms=1.0, fail_rate=0.05, seed=7)) as sandbox:
        ...  # point a client at sandbox.base_url with any bearer key
        print(sandbox.stats()["numbers"]["applied"])

Module map: ``config`` (settings), ``app`` (HTTP) and ``server`` (lifecycle) around a pure
core: ``engine`` (account state), ``jobs`` (the job state machine), ``inventory`` (numbers),
``bodies``/``queries``/``filters`` (request reading), ``ratelimit``, ``dice`` (seeded faults),
``refusals`` (error bodies).
"""

from bulkupdate.sandbox.clock import Clock, FakeClock, SystemClock
from bulkupdate.sandbox.config import SandboxConfig, SandboxExchange
from bulkupdate.sandbox.numberfile import provision_numbers, read_numbers, write_numbers
from bulkupdate.sandbox.server import Sandbox

__all__ = [
    "Clock",
    "FakeClock",
    "Sandbox",
    "SandboxConfig",
    "SandboxExchange",
    "SystemClock",
    "provision_numbers",
    "read_numbers",
    "write_numbers",
]
