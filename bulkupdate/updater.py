"""The library API: ``BulkUpdater``.

Example::

    import anyio
    from bulkupdate import BulkUpdater

    async def main() -> None:
        async with BulkUpdater(api_key="KEY", rate=20, max_active_jobs=20) as updater:
            result = await updater.update(
                ["+13125550100", "(312) 555-0101"],
                {"tags": ["migrated"], "hd_voice_enabled": True},
                default_region="US",
            )
        print(result.totals.succeeded, "updated")

    anyio.run(main)

The account's own numbers that match filters, instead of a list (each updated exactly
once, even when the update moves it out of the filters)::

    result = await updater.update(
        AccountNumbers({"connection_id": "1293384261075731499"}),
        {"connection_id": "1293384261075731500", "tags": ["migrated"]},
    )
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from bulkupdate.api.client import ApiClient
from bulkupdate.budget import Budget, check_budget_url, open_budget
from bulkupdate.credentials import check_api_key, check_base_url
from bulkupdate.engine.ledger import Progress
from bulkupdate.engine.outcomes import Outcome, OutcomeCollector, OutcomeSink, OutcomeStatus, Totals
from bulkupdate.engine.pipeline import EngineStats, run_engine
from bulkupdate.errors import UsageError
from bulkupdate.input.number_streams import NumberFiles, open_input
from bulkupdate.input.scan import Chunk
from bulkupdate.request.selection import AccountNumbers
from bulkupdate.request.spec import DeleteRequest, EmergencySettingsRequest, JobRequest, UpdateSpec
from bulkupdate.runs.account_input import AccountSource
from bulkupdate.settings import DEFAULT_BASE_URL, EngineSettings, OwnershipMode, check_pace

NumbersInput = AccountNumbers | NumberFiles | Iterable[str] | AsyncIterable[str]


@dataclass(frozen=True, slots=True)
class UpdateResult:
    """Every entry's outcome (when collected), the totals, and what the run spent."""

    outcomes: tuple[Outcome, ...]
    totals: Totals
    stats: EngineStats

    @property
    def ok(self) -> bool:
        """True when every entry succeeded (repeated entries do not count against it)."""
        return self.totals.all_succeeded

    def with_status(self, status: OutcomeStatus | str) -> Iterator[Outcome]:
        wanted = OutcomeStatus(status)
        return (outcome for outcome in self.outcomes if outcome.status is wanted)


class BulkUpdater:
    """Updates, deletes or sets emergency settings on phone numbers in bulk.

    The API key defaults to ``TELNYX_API_KEY``; the base URL to ``TELNYX_BASE_URL``, else
    Telnyx's. The calls made on one updater share one budget, however many run at once:
    one request pace (``rate``) and ``max_active_jobs`` job slots, handed round-robin to
    the calls waiting for one, so a small call made during a large one is not kept
    waiting for it. ``budget="redis://HOST:PORT/DB"`` shares that budget with every
    process using the same URL and API key (``pip install "bulkupdate[redis]"``). Use it
    as an async context manager inside the running loop.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        rate: float = 20.0,
        max_active_jobs: int = 20,
        max_attempts: int = 5,
        batch_size: int = 1000,
        ownership: OwnershipMode | str = OwnershipMode.AUTO,
        timeout: float = 60.0,
        allow_insecure_http: bool = False,
        budget: str | None = None,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("TELNYX_API_KEY", "")
        if not key:
            raise UsageError("no API key: pass api_key= or set TELNYX_API_KEY")
        check_api_key(key, source="api_key" if api_key is not None else "TELNYX_API_KEY")
        check_pace(rate, timeout, prefix="")
        self._api_key = key
        self.base_url = base_url or os.environ.get("TELNYX_BASE_URL") or DEFAULT_BASE_URL
        check_base_url(self.base_url, allow_insecure_http=allow_insecure_http, flag="base_url")
        self.allow_insecure_http = allow_insecure_http
        self.rate = rate
        self.timeout = timeout
        self.settings = EngineSettings(
            max_active_jobs=max_active_jobs,
            max_attempts=max_attempts,
            batch_size=batch_size,
            ownership=OwnershipMode(ownership),
        )
        self.budget_url = None if budget is None else check_budget_url(budget, flag="budget")
        self._budget: Budget | None = None
        self._client: ApiClient | None = None

    def __repr__(self) -> str:
        return f"<BulkUpdater {self.base_url} rate={self.rate} {self.settings}>"

    @property
    def budget(self) -> Budget:
        """The pace and job slots every call on this updater shares (while it is open)."""
        if self._budget is None:
            raise RuntimeError("use BulkUpdater inside 'async with'")
        return self._budget

    async def __aenter__(self) -> BulkUpdater:
        budget = open_budget(
            self.budget_url,
            api_key=self._api_key,
            rate=self.rate,
            max_active_jobs=self.settings.max_active_jobs,
            timeout=self.timeout,
        )
        self._budget = await budget.__aenter__()
        try:
            client = ApiClient(
                self._api_key,
                base_url=self.base_url,
                rate=self.rate,
                timeout=self.timeout,
                governor=budget.governor,
                allow_insecure_http=self.allow_insecure_http,
            )
            self._client = await client.__aenter__()
        except BaseException as exc:
            await budget.__aexit__(type(exc), exc, exc.__traceback__)
            self._budget = None
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            if self._client is not None:
                await self._client.__aexit__(*exc_info)
                self._client = None
        finally:
            if self._budget is not None:
                await self._budget.__aexit__(*exc_info)
                self._budget = None

    async def update(
        self,
        numbers: NumbersInput,
        spec: UpdateSpec | Mapping[str, Any],
        *,
        filters: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> UpdateResult:
        """Apply ``spec`` (an ``UpdateSpec`` or the API body's fields) to ``numbers``.

        ``filters`` (``{"tag": "legacy"}``) narrow the update to numbers that match; with
        ``AccountNumbers`` its own filters do. Other keyword arguments are those of ``run``.
        """
        if isinstance(numbers, AccountNumbers):
            if filters is not None:
                raise UsageError(
                    "the account's numbers are chosen by AccountNumbers(filters=...): pass "
                    "no filters= beside it"
                )
            if not isinstance(spec, UpdateSpec):
                spec = UpdateSpec.from_mapping(spec, dict(numbers.update_filters()))
        elif not isinstance(spec, UpdateSpec):
            spec = UpdateSpec.from_mapping(spec, filters)
        elif filters is not None:
            spec = UpdateSpec.from_mapping(dict(spec.fields), filters)
        return await self.run(numbers, spec, **options)

    async def delete_numbers(self, numbers: NumbersInput, **options: Any) -> UpdateResult:
        """Delete ``numbers`` from the account. Other keyword arguments: see ``run``."""
        return await self.run(numbers, DeleteRequest(), **options)

    async def update_emergency_settings(
        self,
        numbers: NumbersInput,
        *,
        emergency_enabled: bool,
        emergency_address_id: str | None = None,
        **options: Any,
    ) -> UpdateResult:
        """Enable (with an address) or disable emergency services on ``numbers``."""
        request = EmergencySettingsRequest(emergency_enabled, emergency_address_id)
        return await self.run(numbers, request, **options)

    async def run(
        self,
        numbers: NumbersInput,
        request: JobRequest,
        *,
        on_progress: Callable[[Progress], None] | None = None,
        sink: OutcomeSink | None = None,
        default_region: str | None = None,
        ids: bool = False,
        strict: bool = False,
    ) -> UpdateResult:
        """Submit ``request`` for every number; return when each has an outcome.

        ``numbers``: ``AccountNumbers`` (the account's numbers that match its filters,
        read from ``GET /phone_numbers`` through this updater's rate limit), a
        ``NumberFiles``, or any iterable or async iterable of strings, read with
        ``default_region``, ``ids`` and ``strict`` as ``NumberFiles`` would.
        ``on_progress`` is called with a ``Progress`` as batches go and jobs end.
        ``sink``: where outcomes go as they become final; by default they are kept and
        returned in the result (pass a sink to keep memory flat on huge inputs).
        """
        if self._client is None:
            raise RuntimeError("use BulkUpdater inside 'async with'")
        collector = OutcomeCollector()
        if isinstance(numbers, AccountNumbers):
            request = guarded(request, numbers)
            source = AccountSource(self._client, numbers)
            chunks: AsyncIterable[Chunk] = source.chunks()
            fraction: Callable[[], float | None] = source.fraction
        else:
            stream = open_input(numbers, default_region=default_region, ids=ids, strict=strict)
            chunks, fraction = stream.chunks, stream.fraction
        stats = await run_engine(
            self._client,
            request,
            chunks,
            collector if sink is None else sink,
            self.settings,
            on_progress=on_progress,
            input_fraction=fraction,
            slots=self.budget.run_slots(),
        )
        outcomes = tuple(collector.outcomes)
        return UpdateResult(outcomes, stats.totals, stats)


def guarded(request: JobRequest, selection: AccountNumbers) -> JobRequest:
    """``request`` with the selection's filters in its query, where its endpoint takes them,
    so that a number somebody else changes before its job runs is skipped, not updated."""
    if not isinstance(request, UpdateSpec):
        return request  # the delete and emergency-settings endpoints take no filters
    wanted = selection.update_filters()
    if not request.filters:
        return UpdateSpec(fields=request.fields, filters=wanted)
    if request.filters != wanted:
        raise UsageError(
            "an update of AccountNumbers carries the selection's own filters: build the "
            "UpdateSpec without filters"
        )
    return request
