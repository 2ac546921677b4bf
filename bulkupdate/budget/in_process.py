"""The budget of one process: one ``RateGovernor`` and one set of job slots for all its runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bulkupdate.api.governors import JobSlots, RateGovernor
from bulkupdate.budget.slots import RunSlots, SharedSlots


class Budget:
    """The pace and job slots of one account, in this process."""

    def __init__(self, governor: RateGovernor, slots: SharedSlots) -> None:
        self.governor = governor
        self.slots = slots
        # Told of what happens to the budget itself (Redis lost and back): the event log.
        self.on_event: Callable[..., None] | None = None

    @classmethod
    def local(cls, rate: float, max_active_jobs: int) -> Budget:
        return cls(RateGovernor(rate), SharedSlots(JobSlots(max_active_jobs)))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.governor!r} {self.slots!r}>"

    def run_slots(self) -> RunSlots:
        """The job slots of one more run on this budget."""
        return self.slots.for_run()

    async def __aenter__(self) -> Budget:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        pass

    def event(self, name: str, **fields: Any) -> None:
        if self.on_event is not None:
            self.on_event(name, **fields)
