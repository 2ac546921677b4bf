"""The account's numbers: who owns what, each number's current settings, and their JSON.

Ownership has three sources: an inventory given up front, or "own all" (any valid +E.164
number the sandbox sees becomes the account's, with a stable id), minus ``unowned_numbers``,
which are never owned. Deleted numbers keep their record (status ``deleted``) but are no longer
owned, so a later request naming them is refused. A number may start with preset settings
(``presets.py``). While someone watches (the listings, ``listing.py``), every change a job
makes to a number is logged, so a listing can follow the changes instead of starting over.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from bulkupdate.sandbox.bodies import NumberList
from bulkupdate.sandbox.phone import EntryKind, number_country, number_type, stable_id
from bulkupdate.sandbox.timefmt import iso8601

# The values a number's settings take, as the spec's enums list them.
STATUSES = (
    "purchase-pending",
    "purchase-failed",
    "port-pending",
    "active",
    "deleted",
    "port-failed",
    "emergency-only",
    "ported-out",
    "port-out-pending",
)
PAYMENT_METHODS = ("pay-per-minute", "channel")


def default_voice() -> dict[str, Any]:
    """Voice settings of a fresh number, as the spec's defaults describe them."""
    return {
        "tech_prefix_enabled": False,
        "translated_number": "",
        "caller_id_name_enabled": False,
        "call_forwarding": {"call_forwarding_enabled": True},
        "cnam_listing": {"cnam_listing_enabled": False},
        "usage_payment_method": "pay-per-minute",
        "media_features": {
            "rtp_auto_adjust_enabled": True,
            "accept_any_rtp_packets_enabled": False,
            "t38_fax_gateway_enabled": False,
        },
        "call_recording": {
            "inbound_call_recording_enabled": False,
            "inbound_call_recording_format": "wav",
            "inbound_call_recording_channels": "single",
        },
        "inbound_call_screening": "disabled",
    }


def merge(stored: dict[str, Any], change: Mapping[str, Any]) -> None:
    """Merge ``change`` into ``stored`` field by field, nested objects merged too."""
    for key, value in change.items():
        if isinstance(value, Mapping) and isinstance(stored.get(key), dict):
            merge(stored[key], value)
        else:
            stored[key] = copy.deepcopy(value)


@dataclass(slots=True)
class NumberRecord:
    """One number and its current settings.

    Mutable on purpose, unlike the rest of the sandbox's records: applying a job changes a
    number's settings in place, as the real account would.
    """

    id: str
    phone_number: str
    seq: int
    created_at: float
    country_iso_alpha2: str
    updated_at: float
    status: str = "active"
    tags: list[str] = field(default_factory=list)
    external_pin: str | None = None
    customer_reference: str | None = None
    connection_id: str | None = None
    billing_group_id: str | None = None
    hd_voice_enabled: bool = False
    deletion_lock_enabled: bool = False
    emergency_enabled: bool = False
    emergency_address_id: str | None = None
    emergency_status: str = "disabled"
    voice: dict[str, Any] = field(default_factory=default_voice)
    _type: str | None = None
    _created_iso: str | None = None

    @property
    def created_iso(self) -> str:
        # A listing of the whole account shows it for every number: formatted once.
        if self._created_iso is None:
            self._created_iso = iso8601(self.created_at)
        return self._created_iso

    @property
    def phone_number_type(self) -> str:
        # Worked out on first use: it costs as much as the validity check, and most runs
        # never show it.
        if self._type is None:
            self._type = number_type(self.phone_number)
        return self._type

    @property
    def owned(self) -> bool:
        return self.status != "deleted"

    @property
    def connection_name(self) -> str | None:
        # The sandbox has no connection objects; a connection's name is derived from its id.
        return None if self.connection_id is None else f"connection-{self.connection_id}"

    def preset(self, settings: Mapping[str, Any]) -> None:
        """Start with ``settings`` (checked by ``presets.problems``) instead of the defaults."""
        for name, value in settings.items():
            if name == "tags":
                self.tags = list(value)
            elif name == "usage_payment_method":
                self.voice["usage_payment_method"] = value
            elif name == "emergency_address_id":
                self.apply_emergency(True, value, self.updated_at)
            else:
                setattr(self, name, value)

    def apply_update(self, fields: Mapping[str, Any], voice: Mapping[str, Any], at: float) -> None:
        for key, value in fields.items():
            setattr(self, key, list(value) if key == "tags" else value)
        merge(self.voice, voice)
        self.updated_at = at

    def apply_delete(self, at: float) -> None:
        self.status = "deleted"
        self.updated_at = at

    def apply_emergency(self, enabled: bool, address_id: str | None, at: float) -> None:
        self.emergency_enabled = enabled
        self.emergency_address_id = address_id if enabled else None
        self.emergency_status = "active" if enabled else "disabled"
        self.updated_at = at

    def reference(self) -> dict[str, str]:
        """The ``{id, phone_number}`` pair a job's operation lists use."""
        return {"id": self.id, "phone_number": self.phone_number}

    def detailed(self) -> dict[str, Any]:
        """The ``PhoneNumberDetailed`` shape of ``GET /phone_numbers``."""
        voice = self.voice
        return {
            "id": self.id,
            "record_type": "phone_number",
            "phone_number": self.phone_number,
            "status": self.status,
            "tags": list(self.tags),
            "external_pin": self.external_pin,
            "customer_reference": self.customer_reference,
            "connection_id": self.connection_id,
            "connection_name": self.connection_name,
            "billing_group_id": self.billing_group_id,
            "messaging_profile_id": None,
            "messaging_profile_name": None,
            "call_forwarding_enabled": voice["call_forwarding"]["call_forwarding_enabled"],
            "call_recording_enabled": voice["call_recording"]["inbound_call_recording_enabled"],
            "caller_id_name_enabled": voice["caller_id_name_enabled"],
            "cnam_listing_enabled": voice["cnam_listing"]["cnam_listing_enabled"],
            "t38_fax_gateway_enabled": voice["media_features"]["t38_fax_gateway_enabled"],
            "inbound_call_screening": voice["inbound_call_screening"],
            "hd_voice_enabled": self.hd_voice_enabled,
            "deletion_lock_enabled": self.deletion_lock_enabled,
            "emergency_enabled": self.emergency_enabled,
            "emergency_address_id": self.emergency_address_id,
            "emergency_status": self.emergency_status,
            "country_iso_alpha2": self.country_iso_alpha2,
            "phone_number_type": self.phone_number_type,
            "source_type": "number_order",
            "created_at": self.created_iso,
            "updated_at": iso8601(self.updated_at),
            "purchased_at": self.created_iso,
            "activated_at": self.created_iso,
        }

    def voice_settings(self) -> dict[str, Any]:
        """The ``PhoneNumberWithVoiceSettings`` shape of ``GET /phone_numbers/{id}/voice``."""
        emergency: dict[str, Any] = {
            "emergency_enabled": self.emergency_enabled,
            "emergency_status": self.emergency_status,
        }
        if self.emergency_address_id is not None:
            emergency["emergency_address_id"] = self.emergency_address_id
        settings: dict[str, Any] = {
            "id": self.id,
            "record_type": "voice_settings",
            "phone_number": self.phone_number,
        }
        # The voice schema has no nulls: fields not set are left out.
        if self.connection_id is not None:
            settings["connection_id"] = self.connection_id
        if self.customer_reference is not None:
            settings["customer_reference"] = self.customer_reference
        settings.update(copy.deepcopy(self.voice))
        settings["emergency"] = emergency
        return settings


class Inventory:
    """The numbers the account owns (and has deleted), findable by number and by id."""

    def __init__(
        self,
        initial: Iterable[str],
        *,
        own_all: bool,
        unowned: frozenset[str],
        created_at: float,
        presets: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self._own_all = own_all
        self._unowned = unowned
        self._created_at = created_at
        self._presets = presets or {}
        # Countries and types are worked out once: reset() rebuilds the records from this.
        # (The type too: a listing of the whole account shows every number's, and working
        # it out then would make the sandbox, not the API's limits, what a client waits for.)
        self._initial = {number: number_country(number) for number in initial}
        self._types = {n: number_type(n) for n, country in self._initial.items() if country}
        invalid = [number for number, country in self._initial.items() if country is None]
        if invalid:
            raise ValueError(
                f"the inventory holds numbers that are not valid: {', '.join(invalid[:3])}"
                + (f" and {len(invalid) - 3} more" if len(invalid) > 3 else "")
            )
        self.reset()

    def reset(self) -> None:
        """Back to the initial numbers with their initial settings."""
        self.membership = 0  # bumped whenever a number joins or leaves the account
        self.watched = False  # whether changes are logged (someone follows them)
        self.log_start = 0  # the position of changes[0] in the whole log
        self.changes: list[NumberRecord] = []  # numbers a job changed, oldest first
        self._by_number: dict[str, NumberRecord] = {}
        self._by_id: dict[str, NumberRecord] = {}
        for number, country in self._initial.items():
            if number not in self._unowned and country is not None:
                self._add(number, country, self._created_at)._type = self._types[number]

    def __len__(self) -> int:
        return len(self._by_number)

    def find(self, key: str) -> NumberRecord | None:
        """A known number by +E.164 or id, deleted or not."""
        return self._by_number.get(key) or self._by_id.get(key)

    def resolve(self, numbers: NumberList, now: float) -> list[NumberRecord] | None:
        """The records of every entry, or None if the account does not own one of them."""
        records = []
        for entry in numbers.entries:
            if numbers.kind is EntryKind.ID:
                record = self._by_id.get(entry)
            else:
                record = self._by_number.get(entry) or self._adopt(entry, now)
            if record is None or not record.owned:
                return None
            records.append(record)
        return records

    def left(self) -> None:
        """A number stopped being the account's (a delete job removed it)."""
        self.membership += 1

    def changed(self, record: NumberRecord) -> None:
        """A job changed ``record``'s settings: log it, if anyone follows the changes."""
        if self.watched:
            self.changes.append(record)

    @property
    def log_end(self) -> int:
        """The position in the whole log just after the last change logged."""
        return self.log_start + len(self.changes)

    def changes_since(self, position: int) -> list[NumberRecord]:
        return self.changes[position - self.log_start :]

    def forget_changes_before(self, position: int) -> None:
        """Every follower has seen the changes before ``position``."""
        del self.changes[: position - self.log_start]
        self.log_start = position

    def owned(self) -> Iterator[NumberRecord]:
        return (record for record in self._by_number.values() if record.owned)

    def select(
        self, matches: Callable[[NumberRecord], bool], *, include_deleted: bool
    ) -> list[NumberRecord]:
        """Numbers that ``matches``, in the order the account got them."""
        pool = self._by_number.values() if include_deleted else self.owned()
        return [record for record in pool if matches(record)]

    def _adopt(self, number: str, now: float) -> NumberRecord | None:
        if not self._own_all or number in self._unowned:
            return None
        country = number_country(number)
        return None if country is None else self._add(number, country, now)

    def _add(self, number: str, country: str, now: float) -> NumberRecord:
        record = NumberRecord(
            id=stable_id(number),
            phone_number=number,
            seq=len(self._by_number),
            created_at=now,
            updated_at=now,
            country_iso_alpha2=country,
        )
        preset = self._presets.get(number)
        if preset:
            record.preset(preset)
        self._by_number[number] = record
        self._by_id[record.id] = record
        self.membership += 1
        return record

    def __repr__(self) -> str:
        mode = "own-all" if self._own_all else "inventory"
        return f"Inventory({mode}, known={len(self._by_number)})"
