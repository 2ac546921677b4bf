"""The sandbox a ``run --sandbox`` starts in-process, and its settings file."""

from __future__ import annotations

import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import fields
from typing import Any

from bulkupdate.errors import UsageError

# Quick jobs by default, so the example finishes in a moment.
DEFAULTS: dict[str, Any] = {"op_ms": 1.0, "pending_ms": 20.0}


@asynccontextmanager
async def embedded_sandbox(config_path: str | None) -> AsyncIterator[str]:
    """Serve a sandbox on a free loopback port for the block; yields its base URL."""
    from bulkupdate.sandbox import Sandbox

    async with Sandbox(sandbox_config(config_path), host="127.0.0.1", port=0) as sandbox:
        yield sandbox.base_url


def sandbox_config(path: str | None) -> Any:
    """The embedded sandbox's settings: the defaults, or a TOML file's on top of them."""
    from bulkupdate.sandbox import SandboxConfig

    settings = dict(DEFAULTS)
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
