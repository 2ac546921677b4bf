"""A strict local server that behaves like Telnyx's phone-number jobs API.

It never imports the client side of bulkupdate: its parsing and validation are its own, so a
client encoding bug shows up as a refusal instead of being mirrored. Start it with
``bulkupdate sandbox`` or in-process::

    from bulkupdate.sandbox import Sandbox, SandboxConfig

    async with Sandbox(SandboxConfig(op_ms=1.0, fail_rate=0.05, seed=7)) as sandbox:
        ...  # point a client at sandbox.base_url with any bearer key
        print(sandbox.stats()["numbers"]["applied"])

Module map — a pure core without I/O, wrapped by a thin HTTP layer:

- ``config``: the settings (``SandboxConfig``) and the exchange record for hooks
- ``bodies``, ``queries``, ``filters``: reading requests, refusing what the spec does not allow
- ``refusals``: Telnyx's error bodies, with the spec's wording
- ``jobs``: the job state machine, a pure function of time
- ``outcomes``: whether one number's update succeeds (faults included)
- ``inventory``, ``phone``, ``presets``: the account's numbers, ownership, stable ids, number
  JSON, and the settings a number may start with
- ``listing``: the ordered selections ``GET /phone_numbers`` pages through, kept up to date
- ``engine``: the account as a whole, advanced lazily from the clock; stats in ``stats``
- ``ratelimit``: the request limiters (fixed windows, sliding log, token bucket); ``dice``:
  seeded fault decisions
- ``app`` (aiohttp handlers and the /v2 pipeline), ``server`` (``Sandbox``), ``command`` (CLI)
- ``clock``, ``timefmt``, ``numberfile``: time, timestamps, number files and ``--provision``
"""

from typing import TYPE_CHECKING, Any

from bulkupdate.sandbox.clock import Clock, FakeClock, SystemClock
from bulkupdate.sandbox.config import SandboxConfig, SandboxExchange
from bulkupdate.sandbox.numberfile import provision_numbers, read_numbers, write_numbers

if TYPE_CHECKING:
    from bulkupdate.sandbox.server import Sandbox


def __getattr__(name: str) -> Any:
    # The server (and aiohttp with it, about 20 MB) loads when first asked for, so that
    # ``bulkupdate run --dry-run`` and the command's parser do not pay for it.
    if name == "Sandbox":
        from bulkupdate.sandbox.server import Sandbox

        return Sandbox
    raise AttributeError(f"module 'bulkupdate.sandbox' has no attribute {name!r}")


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
