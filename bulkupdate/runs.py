"""A run's settings, and the journal that makes it durable: start one, or pick one up.

Everything that can be wrong with the settings is found before the first request: the
spec, the flags, the input files, the API key, the journal. The settings a journal keeps
(never the API key) are enough to rebuild the run for ``bulkupdate resume``.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bulkupdate.credentials import check_api_key, check_base_url
from bulkupdate.errors import UsageError
from bulkupdate.escaping import printable
from bulkupdate.inputs import NumberFiles
from bulkupdate.journal import InputFingerprint, Journal, ResumeState
from bulkupdate.settings import DEFAULT_BASE_URL, EngineSettings, OwnershipMode, check_pace
from bulkupdate.sources import STDIN, InputFormat
from bulkupdate.spec import UpdateSpec

SANDBOX_KEY = "sandbox-key"
RUNS_DIRECTORY = "bulkupdate-runs"

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_INTERRUPTED = 130
EXIT_REPORT_NOT_WRITTEN = 74  # sysexits' EX_IOERR: the run happened, its report did not
EXIT_INTERNAL = 70  # sysexits' EX_SOFTWARE: a bug in bulkupdate


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Everything ``bulkupdate run`` was asked to do, checked."""

    inputs: NumberFiles
    spec: UpdateSpec
    engine: EngineSettings
    rate: float = 20.0
    base_url: str | None = None
    report: str | None = None
    sandbox: bool = False
    sandbox_config: str | None = None
    dry_run: bool = False
    timeout: float = 60.0
    journal: str | None = None
    force: bool = False
    log_format: str = "text"
    quiet: bool = False
    allow_insecure_http: bool = False

    def __post_init__(self) -> None:
        check_pace(self.rate, self.timeout)
        if self.sandbox and self.base_url:
            raise UsageError("--sandbox and --base-url cannot go together: pick one server")
        if self.sandbox_config and not self.sandbox:
            raise UsageError("--sandbox-config needs --sandbox")
        if self.log_format not in ("text", "json"):
            raise UsageError(f"--log-format must be text or json, got {self.log_format!r}")
        # The journal records these as JSON: undecodable bytes in a name cannot be.
        named: list[tuple[str, str | None]] = [("input", path) for path in self.inputs.paths]
        named += [("--column", self.inputs.column), ("--sandbox-config", self.sandbox_config)]
        for what, text in named:
            if text is not None and not _is_utf8(text):
                raise UsageError(f"{what} {printable(text)}: holds bytes that are not UTF-8")
        if not self.sandbox:  # the key goes there: it must stay private on the way
            flag = "--base-url" if self.base_url else "TELNYX_BASE_URL"
            check_base_url(
                self.resolved_base_url(), allow_insecure_http=self.allow_insecure_http, flag=flag
            )

    def resolved_base_url(self) -> str:
        return self.base_url or os.environ.get("TELNYX_BASE_URL") or DEFAULT_BASE_URL

    def resolved_api_key(self) -> str:
        if self.sandbox:
            return SANDBOX_KEY  # a real key has no business going to a local sandbox
        key = os.environ.get("TELNYX_API_KEY", "")
        if not key:
            raise UsageError("no API key: set TELNYX_API_KEY (or use --sandbox to try it out)")
        return check_api_key(key)

    # -- what a journal keeps ---------------------------------------------------------

    def settings(self, fingerprints: list[InputFingerprint]) -> dict[str, Any]:
        """The run as plain data for the journal: no API key, ever."""
        inputs = self.inputs
        return {
            "request": self.spec.describe(),
            "inputs": [_fingerprint(f) for f in fingerprints],
            "read": {
                "default_region": inputs.default_region,
                "column": inputs.column,
                "ids": inputs.ids,
                "strict": inputs.strict,
                "input_format": inputs.input_format.value if inputs.input_format else None,
            },
            "engine": {
                "max_active_jobs": self.engine.max_active_jobs,
                "max_attempts": self.engine.max_attempts,
                "batch_size": self.engine.batch_size,
                "ownership": self.engine.ownership.value,
            },
            "rate": self.rate,
            "timeout": self.timeout,
            "base_url": None if self.sandbox else self.resolved_base_url(),
            "allow_insecure_http": self.allow_insecure_http,  # consent given for this run
            "sandbox": self.sandbox,
            "sandbox_config": self.sandbox_config,
        }

    @classmethod
    def from_settings(cls, settings: dict[str, Any], **overrides: Any) -> RunOptions:
        """The options a journal's settings describe (for ``bulkupdate resume``)."""
        try:
            read = settings["read"]
            request = settings["request"]
            options = cls(
                inputs=NumberFiles(
                    *(item["path"] for item in settings["inputs"]),
                    default_region=read["default_region"],
                    column=read["column"],
                    ids=read["ids"],
                    strict=read["strict"],
                    input_format=InputFormat(read["input_format"])
                    if read["input_format"]
                    else None,
                ),
                spec=UpdateSpec.from_mapping(request["fields"], request["filters"]),
                engine=EngineSettings(
                    max_active_jobs=settings["engine"]["max_active_jobs"],
                    max_attempts=settings["engine"]["max_attempts"],
                    batch_size=settings["engine"]["batch_size"],
                    ownership=OwnershipMode(settings["engine"]["ownership"]),
                ),
                rate=settings["rate"],
                timeout=settings["timeout"],
                base_url=settings["base_url"],
                allow_insecure_http=settings.get("allow_insecure_http", False),
                sandbox=settings["sandbox"],
                sandbox_config=settings["sandbox_config"],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"the journal's settings cannot be read ({exc})") from exc
        return replace(options, **overrides)


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")  # argv's undecodable bytes arrive as lone surrogates
    except UnicodeEncodeError:
        return False
    return True


def _fingerprint(value: InputFingerprint) -> dict[str, Any]:
    return {"path": value.path, "size": value.size, "sha256": value.sha256}


def fingerprints(inputs: NumberFiles) -> list[InputFingerprint]:
    """What each input is now; stdin and pipes have none: reading them to hash them
    would leave nothing for the run (``<(zcat numbers.gz)`` is a pipe)."""
    found = []
    for path in inputs.paths:
        if path == STDIN or not os.path.isfile(path):
            found.append(InputFingerprint(path, -1, ""))
        else:
            found.append(InputFingerprint.of(path))
    return found


def changed_inputs(settings: dict[str, Any]) -> list[str]:
    """How each recorded input differs from what is on disk now (empty: unchanged)."""
    problems = []
    for item in settings.get("inputs", []):
        path = item["path"]
        if path == STDIN:
            problems.append("the run read standard input, which cannot be read again")
            continue
        if item["size"] == -1:
            problems.append(f"the run read {path}, a pipe, which cannot be read again")
            continue
        if not os.path.isfile(path):
            problems.append(f"{path} is gone")
            continue
        now = InputFingerprint.of(path)
        if now.size != item["size"]:
            problems.append(f"{path} was {item['size']:,} bytes and is now {now.size:,}")
        elif now.sha256 != item["sha256"]:
            problems.append(f"{path} has the same size but different content")
    return problems


def new_journal_path() -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return str(Path(RUNS_DIRECTORY) / f"run-{stamp}-{secrets.token_hex(3)}.journal")


@dataclass(slots=True)
class Durable:
    """The journal a run writes, and what it resumes from (None for a new run)."""

    journal: Journal
    resume: ResumeState | None


def start_or_resume(options: RunOptions) -> Durable:
    """Open the run's journal: a new one, or the unfinished one ``--journal`` names.

    ``run --journal PATH`` on an unfinished journal of the same inputs and update is a
    resume, so a nightly cron line can simply be run again.
    """
    path = options.journal or new_journal_path()
    if not os.path.exists(path):
        journal = Journal.create(path, options.settings(fingerprints(options.inputs)))
        return Durable(journal, None)
    journal = Journal.open(path)
    recorded = journal.settings
    now = options.settings([])
    # Another update, other inputs, or the same inputs read another way (a region, a
    # column, ids) would make the recorded positions in the input meaningless.
    if (
        recorded.get("request") != now["request"]
        or recorded.get("read") != now["read"]
        or [item["path"] for item in recorded.get("inputs", [])] != list(options.inputs.paths)
    ):
        journal.close()
        raise UsageError(
            f"journal {path} records another run (other inputs, another update, or the "
            "inputs read with other options); give a new --journal path"
        )
    return Durable(journal, pick_up(journal, force=options.force))


def pick_up(journal: Journal, *, force: bool) -> ResumeState:
    """What ``journal`` left to do, once its inputs are checked (unless ``force``)."""
    if journal.finished:
        journal.close()
        raise AlreadyFinished(journal.path)
    problems = changed_inputs(journal.settings)
    if problems and not force:
        journal.close()
        raise UsageError(
            f"the inputs changed since the run in {journal.path} began: "
            + "; ".join(problems)
            + ". Resuming would skip or repeat entries; add --force to resume anyway, "
            "from the same position"
        )
    return journal.resume_state()


class AlreadyFinished(UsageError):
    """The journal records a finished run: there is nothing to resume."""

    def __init__(self, path: str) -> None:
        super().__init__(f"the run in {path} has finished; see: bulkupdate status {path}")
        self.path = path
