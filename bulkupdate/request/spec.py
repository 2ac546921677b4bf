"""The job requests bulkupdate submits: typed fields, validation, body and query encoding.

An :class:`UpdateSpec` is validated once, when it is built, against the schema table in
:mod:`bulkupdate.request.schema`; every problem is collected into one :class:`SpecError`. After
that, encoding a batch is a join of pre-encoded bytes, because a million-number run encodes a
thousand bodies and the fields part never changes.

>>> spec = load_update_spec(sets=["tags=vip,gold"], filters=["status=active"])
>>> spec.encode_body(["+13127367254"])
b'{"phone_numbers":["+13127367254"],"tags":["vip","gold"]}'
>>> spec.query_string()
'filter[status]=active'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

import orjson

from bulkupdate.errors import SpecError
from bulkupdate.request.schema import (
    FILTER_SCHEMA,
    LISTING_FILTER_SCHEMA,
    NOTHING_TO_UPDATE,
    UPDATE_SCHEMA,
    check_fields,
    check_filters,
)
from bulkupdate.request.schema_types import Schema
from bulkupdate.request.selection import AccountNumbers
from bulkupdate.request.spec_files import read_spec_file

__all__ = [
    "DeleteRequest",
    "EmergencySettingsRequest",
    "JobKind",
    "JobRequest",
    "UpdateSpec",
    "load_account_update",
    "load_update_spec",
]


class JobKind(StrEnum):
    """The three phone-number jobs; the value is the last part of the endpoint's path."""

    UPDATE = "update_phone_numbers"
    DELETE = "delete_phone_numbers"
    EMERGENCY = "update_emergency_settings"

    @property
    def path(self) -> str:
        """The endpoint, relative to the API base: ``/phone_numbers/jobs/update_phone_numbers``."""
        return f"/phone_numbers/jobs/{self.value}"


@runtime_checkable
class JobRequest(Protocol):
    """What a pipeline needs to submit one job per batch, whatever the job kind."""

    @property
    def kind(self) -> JobKind: ...

    def encode_body(self, phone_numbers: Sequence[str]) -> bytes:
        """The JSON body (orjson bytes) for one batch of numbers or number ids."""
        ...

    def query_params(self) -> list[tuple[str, str]]:
        """The query as (key, value) pairs for aiohttp's ``params=``; [] without filters."""
        ...

    def query_string(self) -> str:
        """The query, percent-encoded, without the leading ``?``; "" without filters."""
        ...

    def describe(self) -> dict[str, Any]:
        """The job kind, fields and filters as plain JSON-able data, for logs and reports."""
        ...


def _numbers_json(phone_numbers: Sequence[str]) -> bytes:
    if not isinstance(phone_numbers, list | tuple):
        phone_numbers = list(phone_numbers)
    return orjson.dumps(phone_numbers)


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return MappingProxyType({key: _freeze(item) for key, item in value.items()})
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _thaw(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return list(value)
    return value


@dataclass(frozen=True, slots=True)
class UpdateSpec:
    """A validated ``update_phone_numbers`` request: the fields to set and the query filters.

    ``fields`` may be nested like the API body or use dotted paths; it is stored nested, in
    schema order, read-only. ``filters`` holds (name, value) pairs with dotted names
    (``("voice.connection_name.contains", "acme")``). Building one validates everything and
    raises :class:`SpecError` listing every problem.

    >>> spec = UpdateSpec({"voice": {"call_forwarding": {"forwards_to": "+13035559123"}}})
    >>> spec.encode_body(["1583466971586889004"])
    b'{"phone_numbers":["1583466971586889004"],"voice":{"call_forwarding":{"forwards_to":"+13035559123"}}}'
    """

    fields: Mapping[str, Any] = field(hash=False)  # a mapping is unhashable; filters suffice
    filters: tuple[tuple[str, str], ...] = ()
    _tail: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tree, problems = check_fields(self.fields)
        raw_filters: Any = self.filters
        if isinstance(raw_filters, Mapping):
            raw_filters = FILTER_SCHEMA.flatten(raw_filters)
        pairs, filter_problems = check_filters(raw_filters)
        if problems or filter_problems:
            raise SpecError([*problems, *filter_problems])
        object.__setattr__(self, "fields", _freeze(tree))
        object.__setattr__(self, "filters", pairs)
        # Encoded once: each body is `{"phone_numbers":[...]` + `,<fields>}`.
        object.__setattr__(self, "_tail", b"," + orjson.dumps(tree)[1:])

    @classmethod
    def from_mapping(
        cls, fields: Mapping[str, Any], filters: Mapping[str, Any] | None = None
    ) -> UpdateSpec:
        """Build from plain data, e.g. a parsed config.

        ``filters`` may be nested (``{"voice.connection_name": {"contains": "acme"}}``) or flat
        (``{"voice.connection_name.contains": "acme"}``).

        >>> UpdateSpec.from_mapping({"tags": ["vip"]}, {"tag": "legacy"}).query_params()
        [('filter[tag]', 'legacy')]
        """
        if filters is not None and not isinstance(filters, Mapping):
            raise SpecError(
                [f"filters must be a mapping of filter names to values, got {filters!r}"]
            )
        return cls(fields=fields, filters=tuple(FILTER_SCHEMA.flatten(filters or {})))

    @property
    def kind(self) -> JobKind:
        return JobKind.UPDATE

    def encode_body(self, phone_numbers: Sequence[str]) -> bytes:
        return b"".join((b'{"phone_numbers":', _numbers_json(phone_numbers), self._tail))

    def query_params(self) -> list[tuple[str, str]]:
        return [(FILTER_SCHEMA.by_path[name].query_key, value) for name, value in self.filters]

    def query_string(self) -> str:
        # Brackets stay readable (`filter[tag]=legacy`), as in Telnyx's docs; everything in a
        # value that is not unreserved is escaped, spaces as %20.
        return "&".join(
            f"{quote(key, safe='[]')}={quote(value, safe='')}" for key, value in self.query_params()
        )

    def describe(self) -> dict[str, Any]:
        return {"job": self.kind.value, "fields": _thaw(self.fields), "filters": dict(self.filters)}


@dataclass(frozen=True, slots=True)
class DeleteRequest:
    """A ``delete_phone_numbers`` job: the body is the numbers alone.

    >>> DeleteRequest().encode_body(["+13127367254"])
    b'{"phone_numbers":["+13127367254"]}'
    """

    @property
    def kind(self) -> JobKind:
        return JobKind.DELETE

    def encode_body(self, phone_numbers: Sequence[str]) -> bytes:
        return b"".join((b'{"phone_numbers":', _numbers_json(phone_numbers), b"}"))

    def query_params(self) -> list[tuple[str, str]]:
        return []

    def query_string(self) -> str:
        return ""

    def describe(self) -> dict[str, Any]:
        return {"job": self.kind.value, "fields": {}, "filters": {}}


@dataclass(frozen=True, slots=True)
class EmergencySettingsRequest:
    """An ``update_emergency_settings`` job.

    The address is required when enabling and must be left out when disabling (the spec:
    "Required if emergency_enabled is true, must be null or omitted if emergency_enabled is
    false"); it is sent as null then.

    >>> EmergencySettingsRequest(False).encode_body(["+13127367254"])
    b'{"emergency_enabled":false,"emergency_address_id":null,"phone_numbers":["+13127367254"]}'
    """

    emergency_enabled: bool
    emergency_address_id: str | None = None
    _head: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        enabled, address = self.emergency_enabled, self.emergency_address_id
        problems = []
        if not isinstance(enabled, bool):
            problems.append(f"emergency_enabled must be true or false, got {enabled!r}")
        if address is not None and (not isinstance(address, str) or not address.strip()):
            problems.append(
                f"emergency_address_id must be the id of an emergency address, got {address!r}"
            )
        elif enabled is True and address is None:
            problems.append(
                "emergency_address_id is required when emergency_enabled is true: "
                "give the id of the emergency address to use"
            )
        elif enabled is False and address is not None:
            problems.append(
                f"emergency_address_id must be left out when emergency_enabled is false "
                f"(got {address!r})"
            )
        if problems:
            raise SpecError(problems)
        head = orjson.dumps({"emergency_enabled": enabled, "emergency_address_id": address})
        object.__setattr__(self, "_head", head[:-1] + b',"phone_numbers":')

    @property
    def kind(self) -> JobKind:
        return JobKind.EMERGENCY

    def encode_body(self, phone_numbers: Sequence[str]) -> bytes:
        return b"".join((self._head, _numbers_json(phone_numbers), b"}"))

    def query_params(self) -> list[tuple[str, str]]:
        return []

    def query_string(self) -> str:
        return ""

    def describe(self) -> dict[str, Any]:
        fields = {
            "emergency_enabled": self.emergency_enabled,
            "emergency_address_id": self.emergency_address_id,
        }
        return {"job": self.kind.value, "fields": fields, "filters": {}}


def _split_assignment(flag: str, text: str, example: str) -> tuple[str, str] | str:
    """``NAME=VALUE`` → (name, value), or the problem with it."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        return f"{flag} {text!r} must look like NAME=VALUE, e.g. {flag} {example}"
    return name.strip(), value


def load_update_spec(
    spec_file: str | Path | None = None, sets: Sequence[str] = (), filters: Sequence[str] = ()
) -> UpdateSpec:
    """The update request from ``--spec FILE``, ``--set PATH=VALUE`` and ``--filter NAME=VALUE``.

    ``--set`` overrides the file field by field (nested objects merge); ``--filter`` overrides a
    filter of the same name from the file's top-level ``filter`` table. Every problem, from the
    file, the flags and the values alike, is raised at once in one :class:`SpecError`.

    >>> spec = load_update_spec(sets=["voice.call_forwarding.forwarding_type=on_failure",
    ...                               "voice.call_forwarding.forwards_to=+13035559123"])
    >>> spec.describe()["fields"]["voice"]["call_forwarding"]
    {'forwards_to': '+13035559123', 'forwarding_type': 'on-failure'}
    """
    leaves, chosen, problems = _read_request(spec_file, sets, filters, FILTER_SCHEMA)
    return _checked_spec(leaves, chosen, problems)


def load_account_update(
    spec_file: str | Path | None = None, sets: Sequence[str] = (), filters: Sequence[str] = ()
) -> tuple[UpdateSpec, AccountNumbers]:
    """``--from-account``: the update, and the account's numbers it goes to.

    Read as ``load_update_spec`` reads them, except that the filters (``--filter`` and the
    file's ``filter`` table) choose the numbers: they are ``GET /phone_numbers``'s filters,
    and the update carries those its own endpoint takes (see ``selection.py``).

    >>> spec, selection = load_account_update(sets=["connection_id=2"],
    ...                                       filters=["connection_id=1", "number_type=local"])
    >>> spec.query_string(), selection.listing_params()[1]
    ('filter[connection_id]=1', ('filter[number_type][eq]', 'local'))
    """
    leaves, chosen, problems = _read_request(spec_file, sets, filters, LISTING_FILTER_SCHEMA)
    selection: AccountNumbers | None = None
    try:
        selection = AccountNumbers(chosen)
    except SpecError as exc:
        problems += exc.problems
    spec = _checked_spec(leaves, selection.update_filters() if selection else (), problems)
    assert selection is not None  # else the selection's problems were raised with the rest
    return spec, selection


def _read_request(
    spec_file: str | Path | None,
    sets: Sequence[str],
    filters: Sequence[str],
    filter_schema: Schema,
) -> tuple[dict[str, Any], list[tuple[str, Any]], list[str]]:
    """The fields as dotted leaves, the filters as (name, value) pairs, and the problems."""
    problems: list[str] = []
    file_fields: dict[str, Any] = {}
    file_filters: Any = {}
    if spec_file is not None:
        file_fields, file_problems = read_spec_file(spec_file)
        problems += file_problems
        file_filters = file_fields.pop("filter", {})
        if not isinstance(file_filters, Mapping):
            problems.append(
                f'{spec_file}: filter must be a table of filters, e.g. filter = {{tag = "legacy"}}'
            )
            file_filters = {}

    # Flattened to dotted paths, a later source replaces single fields, never whole objects.
    leaves = dict(UPDATE_SCHEMA.flatten(file_fields))
    for text in sets:
        split = _split_assignment("--set", text, "hd_voice_enabled=true")
        if isinstance(split, str):
            problems.append(split)
            continue
        path, value = split
        known = UPDATE_SCHEMA.by_path.get(path)
        leaves[path] = known.parse_text(value) if known is not None else value

    chosen = dict(filter_schema.flatten(file_filters))
    given: list[tuple[str, Any]] = []
    for text in filters:
        split = _split_assignment("--filter", text, "tag=legacy")
        if isinstance(split, str):
            problems.append(split)
            continue
        chosen.pop(split[0], None)
        given.append(split)
    return leaves, [*chosen.items(), *given], problems


def _checked_spec(
    leaves: dict[str, Any], filters: Sequence[tuple[str, Any]], problems: list[str]
) -> UpdateSpec:
    try:
        spec = UpdateSpec(fields=leaves, filters=tuple(filters))
    except SpecError as exc:
        found = list(exc.problems)
        if problems and not leaves:
            # The file could not be read or a --set was malformed: "nothing to update" is noise.
            found = [p for p in found if p != NOTHING_TO_UPDATE]
        raise SpecError([*problems, *found]) from None
    if problems:
        raise SpecError(problems)
    return spec
