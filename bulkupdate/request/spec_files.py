"""Read a spec file (``--spec FILE``): JSON or TOML by extension, problems instead of exceptions.

The only I/O of the spec modules. Every failure comes back as a problem naming the file (and the
line, for parse errors) so that :func:`bulkupdate.request.spec.load_update_spec` can report it
together with every other problem.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
# An update body is a few hundred bytes, three levels deep (voice.call_forwarding.x; the
# filter table four): anything far past these is not a spec, and a parser walking it
# would run out of stack.
MAX_SPEC_BYTES = 1024 * 1024
MAX_SPEC_DEPTH = 8


def read_spec_file(spec_file: str | Path) -> tuple[dict[str, Any], list[str]]:
    """The file's top-level object and the problems found; the object is empty on failure.

    >>> read_spec_file("missing.toml")
    ({}, ['missing.toml: spec file not found'])
    """
    path = Path(spec_file)
    suffix = path.suffix.lower()
    if suffix not in (".json", ".toml"):
        return {}, [
            f"{path}: cannot tell the format from {suffix or 'no extension'!r}; "
            "name the spec file *.json or *.toml"
        ]
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_SPEC_BYTES + 1)
    except FileNotFoundError:
        return {}, [f"{path}: spec file not found"]
    except OSError as exc:
        return {}, [f"{path}: cannot read the spec file: {exc.strerror or exc}"]
    if len(raw) > MAX_SPEC_BYTES:
        return {}, [f"{path}: over {MAX_SPEC_BYTES:,} bytes, far too big for an update spec"]
    try:
        # utf-8-sig: editors on Windows like to start files with a byte-order mark.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return {}, [f"{path}: not UTF-8 text (bad byte at offset {exc.start})"]
    too_deep = (
        f"{path}: nested more than {MAX_SPEC_DEPTH} levels deep; an update spec is a few "
        "levels of fields (voice.call_forwarding.forwards_to)"
    )
    try:
        data, problems = _parse_toml(path, text) if suffix == ".toml" else _parse_json(path, text)
    except RecursionError:  # the parsers recurse: thousands of [ run them out of stack
        return {}, [too_deep]
    if not problems and _depth(data) > MAX_SPEC_DEPTH:
        return {}, [too_deep]
    return data, problems


def _depth(data: object) -> int:
    """How deeply ``data`` nests, counted without recursion: it may be very deep."""
    deepest = 0
    stack: list[tuple[object, int]] = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > deepest:
            deepest = depth
            if deepest > MAX_SPEC_DEPTH:
                break
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return deepest


def _parse_toml(path: Path, text: str) -> tuple[dict[str, Any], list[str]]:
    try:
        return tomllib.loads(text), []
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_POSITION.search(message)
        if match is None:
            return {}, [f"{path}: not valid TOML: {message}"]
        line, column = match.groups()
        reason = message[: match.start()]
        return {}, [f"{path} line {line}, column {column}: not valid TOML: {reason}"]


def _parse_json(path: Path, text: str) -> tuple[dict[str, Any], list[str]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"{path} line {exc.lineno}, column {exc.colno}"
        return {}, [f"{where}: not valid JSON: {exc.msg}"]
    if not isinstance(data, dict):
        return {}, [
            f"{path}: the spec must be a JSON object of fields, like the API body without "
            f"phone_numbers; got {type(data).__name__}"
        ]
    return data, []
