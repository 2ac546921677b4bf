"""Update phone numbers in bulk through Telnyx's phone-number jobs API.

>>> from bulkupdate import AccountNumbers, BulkUpdater, NumberFiles, UpdateSpec  # doctest: +SKIP

See ``BulkUpdater`` for a runnable example. Names are imported on first use, so that
``bulkupdate.input.scan`` or a dry run does not pay for the HTTP stack (about 20 MB).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from bulkupdate.version import __version__ as __version__

if TYPE_CHECKING:
    from bulkupdate.engine.ledger import Progress
    from bulkupdate.engine.outcomes import Outcome, OutcomeSink, OutcomeStatus, Totals
    from bulkupdate.errors import (
        ApiError,
        AuthError,
        BulkUpdateError,
        InputFileError,
        NotFoundError,
        RateLimited,
        RequestRefused,
        ServerError,
        SpecError,
        TransportError,
        UsageError,
    )
    from bulkupdate.input.number_streams import NumberFiles
    from bulkupdate.request.selection import AccountNumbers
    from bulkupdate.request.spec import (
        DeleteRequest,
        EmergencySettingsRequest,
        JobKind,
        JobRequest,
        UpdateSpec,
        load_update_spec,
    )
    from bulkupdate.settings import OwnershipMode
    from bulkupdate.updater import BulkUpdater, UpdateResult

_HOMES = {
    "bulkupdate.errors": (
        "ApiError",
        "AuthError",
        "BulkUpdateError",
        "InputFileError",
        "NotFoundError",
        "RateLimited",
        "RequestRefused",
        "ServerError",
        "SpecError",
        "TransportError",
        "UsageError",
    ),
    "bulkupdate.input.number_streams": ("NumberFiles",),
    "bulkupdate.engine.ledger": ("Progress",),
    "bulkupdate.engine.outcomes": ("Outcome", "OutcomeSink", "OutcomeStatus", "Totals"),
    "bulkupdate.request.selection": ("AccountNumbers",),
    "bulkupdate.settings": ("OwnershipMode",),
    "bulkupdate.request.spec": (
        "DeleteRequest",
        "EmergencySettingsRequest",
        "JobKind",
        "JobRequest",
        "UpdateSpec",
        "load_update_spec",
    ),
    "bulkupdate.updater": ("BulkUpdater", "UpdateResult"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "AccountNumbers",
    "ApiError",
    "AuthError",
    "BulkUpdateError",
    "BulkUpdater",
    "DeleteRequest",
    "EmergencySettingsRequest",
    "InputFileError",
    "JobKind",
    "JobRequest",
    "NotFoundError",
    "NumberFiles",
    "Outcome",
    "OutcomeSink",
    "OutcomeStatus",
    "OwnershipMode",
    "Progress",
    "RateLimited",
    "RequestRefused",
    "ServerError",
    "SpecError",
    "Totals",
    "TransportError",
    "UpdateResult",
    "UpdateSpec",
    "UsageError",
    "load_update_spec",
]


def __getattr__(name: str) -> Any:
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'bulkupdate' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return [*globals(), *__all__]
