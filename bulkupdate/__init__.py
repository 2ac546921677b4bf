"""Update phone numbers in bulk through Telnyx's phone-number jobs API.

>>> from bulkupdate import BulkUpdater, NumberFiles, UpdateSpec  # doctest: +SKIP

See ``BulkUpdater`` for a runnable example.
"""

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
from bulkupdate.inputs import NumberFiles
from bulkupdate.ledger import Progress
from bulkupdate.outcomes import Outcome, OutcomeSink, OutcomeStatus, Totals
from bulkupdate.ownership import OwnershipMode
from bulkupdate.spec import (
    DeleteRequest,
    EmergencySettingsRequest,
    JobKind,
    JobRequest,
    UpdateSpec,
    load_update_spec,
)
from bulkupdate.updater import BulkUpdater, UpdateResult
from bulkupdate.version import __version__ as __version__

__all__ = [
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
