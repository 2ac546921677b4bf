"""The building blocks of a schema table: field types, format rules, requirements, schemas.

A :class:`Schema` knows the dotted paths of its fields and the groups (nested objects) they imply,
flattens nested or dotted-key mappings to paths, explains unknown names with the closest valid one
(:mod:`difflib`), and a :class:`Field` checks and normalises one value. The tables themselves live
in :mod:`bulkupdate.request.schema`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ValueType(StrEnum):
    """The JSON type of a field; the value is how messages describe it."""

    STRING = "a string"
    BOOLEAN = "true or false"
    STRING_LIST = "a list of strings"
    CHOICE = "one of the allowed values"


@dataclass(frozen=True, slots=True)
class Rule:
    """A format rule: the whole value must match ``pattern``, else ``message`` is the problem.

    ``message`` is formatted with ``label`` (the field's name), ``value`` and ``length``.
    """

    pattern: str
    message: str

    def problem(self, label: str, value: str) -> str | None:
        if re.fullmatch(self.pattern, value, re.DOTALL):
            return None
        return self.message.format(label=label, value=_cut(value), length=len(value))


MAX_NAME = 200  # the longest field path is under 60 characters

_BOOLEAN_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _spelling(text: str) -> str:
    # The spec writes `on-failure` and `purchase-pending`, the reference page `on_failure` and
    # `purchase_pending`: compare choices without case and without caring which of the two is used.
    return text.lower().replace("_", "-")


@dataclass(frozen=True, slots=True)
class Field:
    """One field (or filter): its dotted path, its type, and what its values must look like."""

    path: str
    type: ValueType
    choices: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = ()
    query_key: str = ""  # filters only: the deepObject parameter name
    nullable: bool = False  # filters only: None is sent as the string "null" ("none set")

    def parse_text(self, text: str) -> Any:
        """A command-line string (``--set PATH=TEXT``) as this field's type; unparseable text is
        returned unchanged so that :meth:`check` reports it."""
        if self.type is ValueType.BOOLEAN:
            return _BOOLEAN_WORDS.get(text.strip().lower(), text)
        if self.type is ValueType.STRING_LIST:
            # `tags=a, b` → ["a", "b"]; `tags=` → [] which clears the tags.
            return [item.strip() for item in text.split(",") if item.strip()]
        return text

    def check(self, label: str, value: Any) -> tuple[Any, list[str]]:
        """The value normalised (choices spelt as the spec does, lists as tuples); its problems."""
        value, problems = self._check(label, value)
        texts = value if isinstance(value, list | tuple) else [value]
        bad = [t for t in texts if isinstance(t, str) and _CONTROL.search(t)]
        if not problems and bad:
            # Sent on, they would end up in the portal, in exports, on someone's terminal.
            problems = [
                f"{label} must not hold control characters or undecodable bytes, "
                f"got {_show(bad[0])}"
            ]
        return value, problems

    def _check(self, label: str, value: Any) -> tuple[Any, list[str]]:
        kind = self.type
        if kind is ValueType.BOOLEAN:
            if isinstance(value, bool):
                return value, []
            return value, [
                f"{label} must be true or false (--set also takes yes/no/1/0), got {_show(value)}"
            ]
        if kind is ValueType.STRING_LIST:
            if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
                return tuple(value), []
            return value, [
                f"{label} must be a list of strings (on the command line: {self.path}=a,b), "
                f"got {_show(value)}"
            ]
        if not isinstance(value, str):
            hint = (
                "; quote it"
                if isinstance(value, int | float) and not isinstance(value, bool)
                else ""
            )
            return value, [f"{label} must be {kind.value}, got {_show(value)}{hint}"]
        if kind is ValueType.CHOICE:
            by_spelling = {_spelling(c): c for c in self.choices}
            if (choice := by_spelling.get(_spelling(value))) is not None:
                return choice, []
            close = difflib.get_close_matches(_spelling(value), list(by_spelling), n=1)
            guess = f"; did you mean {by_spelling[close[0]]!r}?" if close else ""
            allowed = ", ".join(self.choices)
            return value, [f"{label} must be one of: {allowed}; got {_cut(value)!r}{guess}"]
        problems = [p for rule in self.rules if (p := rule.problem(label, value)) is not None]
        return value, problems


def _show(value: Any) -> str:
    text = repr(value)
    text = text if len(text) <= 40 else text[:37] + "..."
    return text if isinstance(value, str) else f"{text} ({type(value).__name__})"


# Control characters, and the surrogates that stand for undecodable bytes in argv.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
SHOWN = 60  # characters of a given value or name quoted in a problem


def _cut(text: str) -> str:
    """A value or name as long as a message needs, for quoting with ``!r``."""
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


@dataclass(frozen=True, slots=True)
class Requirement:
    """``field``, when set, needs ``needs`` set in the same request (to ``value``, if given)."""

    field: str
    needs: str
    value: Any = None
    why: str = ""

    def problem(self, leaves: Mapping[str, Any]) -> str | None:
        if self.field not in leaves:
            return None
        have = leaves.get(self.needs)
        if self.value is None and have not in (None, ""):
            return None
        if self.value is not None and have == self.value:
            return None
        wanted = self.needs if self.value is None else f"{self.needs}={str(self.value).lower()}"
        return f"{self.field} needs {wanted} in the same request{self.why}"


@dataclass(frozen=True, slots=True)
class Schema:
    """A table of fields by dotted path, with the groups (nested objects) the paths imply."""

    what: str  # "field" or "filter", for messages
    fields: tuple[Field, ...]
    hints: Mapping[str, str] = field(default_factory=dict)  # why a known-wrong name is wrong
    by_path: Mapping[str, Field] = field(init=False, repr=False)
    groups: Mapping[str, tuple[str, ...]] = field(init=False, repr=False)  # "" is the top level

    def __post_init__(self) -> None:
        groups: dict[str, list[str]] = {"": []}
        for f in self.fields:
            parent = ""
            for name in f.path.split("."):
                path = f"{parent}.{name}" if parent else name
                children = groups.setdefault(parent, [])
                if name not in children:
                    children.append(name)
                parent = path
                if path != f.path:
                    groups.setdefault(path, [])
        object.__setattr__(self, "by_path", {f.path: f for f in self.fields})
        object.__setattr__(self, "groups", {k: tuple(v) for k, v in groups.items()})

    def label(self, path: str) -> str:
        return path if self.what == "field" else f"filter {path}"

    def flatten(self, mapping: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
        """(dotted path, value) for every entry, descending only into known groups.

        Nested (``{"voice": {"tech_prefix_enabled": true}}``), dotted-key
        (``{"voice.tech_prefix_enabled": true}``) and mixed forms all give the same paths, so TOML's
        dotted keys and JSON objects read alike. Unknown names come out whole, for
        :meth:`problem` to report.
        """
        for key, value in mapping.items():
            path = f"{prefix}{key}"
            if path in self.groups and isinstance(value, Mapping):
                yield from self.flatten(value, path + ".")
            else:
                yield path, value

    def problem(self, path: str) -> str:
        """Why ``path`` is not a field: unknown (with the closest name) or a group of fields."""
        if len(path) > MAX_NAME:
            # No name is this long; looking for a close one would take quadratic time.
            return f"unknown {self.what} {_cut(path)!r} ({len(path):,} characters)"
        if path in self.groups:
            members = ", ".join(f"{path}.{name}" for name in self.groups[path])
            return f"{self.label(path)} is a group; set one of: {members}"
        if path in self.hints:
            return f"{self.label(path)} does not belong here: {self.hints[path]}"
        guess = self.suggest(path)
        if guess is not None:
            return f"unknown {self.what} {_cut(path)!r}; did you mean {guess!r}?"
        parent = path.rpartition(".")[0]
        while parent not in self.groups:
            parent = parent.rpartition(".")[0]
        where = f"under {parent}" if parent else "at the top level"
        return f"unknown {self.what} {_cut(path)!r}; {self.what}s {where} are: " + ", ".join(
            self.groups[parent]
        )

    def suggest(self, path: str) -> str | None:
        """The closest valid name: a sibling under the same group, else the closest whole path,
        else a field anywhere with a close last part (``forwards_to`` →
        ``voice.call_forwarding.forwards_to``)."""
        parent, _, name = path.rpartition(".")
        if parent in self.groups and name:
            siblings = self.groups[parent]
            # A part of exactly one name first: `hd_voice` → `hd_voice_enabled` (difflib would
            # rank `voice` higher), `call_forwarding.enabled` → `call_forwarding_enabled`.
            close = [s for s in siblings if name in s]
            if len(close) != 1:
                close = difflib.get_close_matches(name, siblings, n=1, cutoff=0.6)
            if close:
                return f"{parent}.{close[0]}" if parent else close[0]
        else:
            names = [*self.by_path, *(group for group in self.groups if group)]
            close = difflib.get_close_matches(path, names, n=1, cutoff=0.6)
            if close:
                return close[0]
        known = [*(group for group in self.groups if group), *self.by_path]
        by_last = {full.rpartition(".")[2]: full for full in known}
        close = difflib.get_close_matches(name, list(by_last), n=1, cutoff=0.75)
        return by_last[close[0]] if close else None
