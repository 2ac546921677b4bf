"""Settings shared by the library and the command line, free of the HTTP stack."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bulkupdate.batching import MAX_BATCH_SIZE, check_batch_size
from bulkupdate.errors import UsageError

DEFAULT_BASE_URL = "https://api.telnyx.com/v2"


class OwnershipMode(StrEnum):
    """How to find the numbers the account does not own (see ``ownership.py``)."""

    AUTO = "auto"
    BISECT = "bisect"
    INVENTORY = "inventory"


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """How hard the engine may push; validated when built."""

    max_active_jobs: int = 20
    max_attempts: int = 5
    batch_size: int = MAX_BATCH_SIZE
    ownership: OwnershipMode = OwnershipMode.AUTO

    def __post_init__(self) -> None:
        if self.max_active_jobs < 1:
            raise UsageError("--max-active-jobs must be at least 1")
        if self.max_attempts < 1:
            raise UsageError("--max-attempts must be at least 1")
        check_batch_size(self.batch_size)
        object.__setattr__(self, "ownership", OwnershipMode(self.ownership))
