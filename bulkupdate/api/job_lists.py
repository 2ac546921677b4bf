"""A job's lists of numbers, read from the answer only when asked for, and only as far.

A job answer carries four lists of up to a thousand entries each: the numbers sent, and
the successful, pending and failed operations. Most answers need none of them (a job
just created, one still running, another client's job on a list page), and settling a
job that completed cleanly needs one field of one list. So ``wire.py`` keeps each list
as the answer's raw JSON (a ``msgspec.Raw``, a slice of the answer, no copy) and these
functions read it: in C through msgspec's typed decoders, which skip every field they
are not asked for without building an object; or, for an entry of an odd shape, through
the lenient readers, which skip what they cannot use. Pure: no I/O.

Figures for a 1000-number answer: ``python -m benchmarks.wire_cpu``.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any

import msgspec
import orjson

ErrorObject = dict[str, Any]

NO_LIST = msgspec.Raw(b"[]")


class Operation(msgspec.Struct, frozen=True, gc=False):
    """One number's entry in a job: both its id and number when the API knows them."""

    id: str | None = None
    phone_number: str | None = None
    errors: tuple[ErrorObject, ...] = ()

    def key(self, by_id: bool) -> str | None:
        """The value this operation answers for, as the batch named it."""
        return self.id if by_id else self.phone_number


# -- typed, in C -------------------------------------------------------------------------


class _Ref(msgspec.Struct, gc=False):
    id: str | None = None
    phone_number: str | None = None


class _IdKey(msgspec.Struct, gc=False):
    id: str | None = None


class _NumberKey(msgspec.Struct, gc=False):
    phone_number: str | None = None


class _Entry(msgspec.Struct, gc=False):
    """Any JSON object, none of its fields read: for counting a list's entries."""


_OPERATIONS = msgspec.json.Decoder(tuple[Operation, ...])
_REFS = msgspec.json.Decoder(list[_Ref])
_IDS = msgspec.json.Decoder(list[_IdKey])
_NUMBERS = msgspec.json.Decoder(list[_NumberKey])
_ENTRIES = msgspec.json.Decoder(list[_Entry])
_ID = attrgetter("id")
_NUMBER = attrgetter("phone_number")


def operations(raw: msgspec.Raw) -> tuple[Operation, ...]:
    """Every operation in a raw list."""
    try:
        return _OPERATIONS.decode(raw)
    except msgspec.DecodeError:
        return operations_from_json(orjson.loads(memoryview(raw)))


def sent_numbers(raw: msgspec.Raw) -> tuple[str, ...]:
    """A raw ``phone_numbers`` list: each number (or id) as it was sent."""
    try:
        refs = _REFS.decode(raw)
    except msgspec.DecodeError:
        return numbers_from_json(orjson.loads(memoryview(raw)))
    # As the lenient reader: the number, else the id, if either is there at all.
    return tuple(value for ref in refs if (value := ref.phone_number or ref.id) is not None)


def count(raw: msgspec.Raw) -> int:
    """How many operations a raw list holds, none of them read."""
    try:
        return len(_ENTRIES.decode(raw))
    except msgspec.DecodeError:
        return len(operations(raw))


def keys(raw: msgspec.Raw, *, by_id: bool) -> list[str | None]:
    """The key (``Operation.key``) of every operation in a raw list, in its order: only
    that field is read, into a list built in C."""
    decoder, key = (_IDS, _ID) if by_id else (_NUMBERS, _NUMBER)
    try:
        return list(map(key, decoder.decode(raw)))
    except msgspec.DecodeError:
        return [op.key(by_id) for op in operations(raw)]


# -- lenient: any JSON, odd parts skipped ---------------------------------------------


def operations_from_json(items: Any) -> tuple[Operation, ...]:
    """The operations in a decoded list; entries that are not objects are skipped."""
    if not isinstance(items, list):
        return ()
    ops = []
    for item in items:
        if not isinstance(item, dict):
            continue
        errors = item.get("errors")
        ops.append(
            Operation(
                id=_str_or_none(item.get("id")),
                phone_number=_str_or_none(item.get("phone_number")),
                errors=tuple(e for e in errors if isinstance(e, dict))
                if isinstance(errors, list)
                else (),
            )
        )
    return tuple(ops)


def numbers_from_json(items: Any) -> tuple[str, ...]:
    """The numbers (or ids) in a decoded ``phone_numbers`` list."""
    sent = []
    for item in items if isinstance(items, list) else ():
        if isinstance(item, dict):
            value = item.get("phone_number") or item.get("id")
            if value is not None:
                sent.append(str(value))
    return tuple(sent)


def _str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return str(value)
