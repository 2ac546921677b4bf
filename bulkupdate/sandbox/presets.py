"""What a number is like before any job touches it: the settings an inventory may give.

A real account's numbers come with connections, tags and references already set; a test
that selects "every number on connection A" needs some numbers there to begin with. An
inventory may give any number a few of its settings (``SandboxConfig.number_settings``, or
a JSON Lines inventory file: ``{"phone_number": "+13125550100", "connection_id": "7"}``);
everything else starts as a fresh number's does. ``NumberRecord.preset`` applies them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from bulkupdate.sandbox.inventory import PAYMENT_METHODS, STATUSES

_TEXT = ("connection_id", "customer_reference", "billing_group_id", "external_pin")
_FLAGS = ("hd_voice_enabled", "deletion_lock_enabled")
SETTINGS = (*_TEXT, *_FLAGS, "tags", "status", "emergency_address_id", "usage_payment_method")


def problems(number: str, settings: Any) -> Iterator[str]:
    """What is wrong with ``settings`` for ``number`` (nothing: they can be applied)."""
    if not isinstance(settings, Mapping):
        yield f"{number}: settings must be a table of setting names to values"
        return
    for name, value in settings.items():
        if name not in SETTINGS:
            yield f"{number}: unknown setting {name!r}; known: {', '.join(SETTINGS)}"
        elif name in (*_TEXT, "emergency_address_id") and not isinstance(value, str):
            yield f"{number}: {name} must be a string, got {value!r}"
        elif name in _FLAGS and not isinstance(value, bool):
            yield f"{number}: {name} must be true or false, got {value!r}"
        elif name == "tags" and not (
            isinstance(value, list | tuple) and all(isinstance(tag, str) for tag in value)
        ):
            yield f"{number}: tags must be a list of strings, got {value!r}"
        elif name == "status" and value not in STATUSES:
            yield f"{number}: status must be one of {', '.join(STATUSES)}, got {value!r}"
        elif name == "usage_payment_method" and value not in PAYMENT_METHODS:
            yield f"{number}: usage_payment_method must be one of {', '.join(PAYMENT_METHODS)}"


def frozen(settings: Mapping[str, Any]) -> Mapping[str, Any]:
    """A copy that cannot change under the config that holds it (tags as a tuple)."""
    return {name: tuple(value) if name == "tags" else value for name, value in settings.items()}
