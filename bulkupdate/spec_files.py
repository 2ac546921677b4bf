"""Read a spec file (``--spec FILE``): JSON or TOML by extension, problems instead of exceptions.

The only I/O of the spec modules. Every failure comes back as a problem naming the file (and the
line, for parse errors) so that :func:`bulkupdate.spec.load_update_spec` can report it together
with every other problem.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


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
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}, [f"{path}: spec file not found"]
    except OSError as exc:
        return {}, [f"{path}: cannot read the spec file: {exc.strerror or exc}"]
    try:
        # utf-8-sig: editors on Windows like to start files with a byte-order mark.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return {}, [f"{path}: not UTF-8 text (bad byte at offset {exc.start})"]
    if suffix == ".toml":
        return _parse_toml(path, text)
    return _parse_json(path, text)


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
