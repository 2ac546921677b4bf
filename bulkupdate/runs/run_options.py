"""A run's settings, checked before the first request: the spec, the flags, the input
files, the API key; the exit codes a run ends with; the fingerprints that say two runs
read the same inputs. ``start_or_resume`` turns them into a durable run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from bulkupdate.budget import check_budget_url, redacted_url
from bulkupdate.credentials import check_api_key, check_base_url
from bulkupdate.errors import UsageError
from bulkupdate.escaping import printable
from bulkupdate.input.number_streams import NumberFiles
from bulkupdate.input.sources import STDIN, InputFormat
from bulkupdate.request.selection import AccountNumbers
from bulkupdate.request.spec import UpdateSpec
from bulkupdate.runs.journal import InputFingerprint
from bulkupdate.settings import DEFAULT_BASE_URL, EngineSettings, OwnershipMode, check_pace

SANDBOX_KEY = "sandbox-key"

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_IN_USE = 75  # EX_TEMPFAIL: another process has the journal; cron may try again later
EXIT_INTERRUPTED = 130
EXIT_REPORT_NOT_WRITTEN = 74  # sysexits' EX_IOERR: the run happened, its report did not
EXIT_INTERNAL = 70  # sysexits' EX_SOFTWARE: a bug in bulkupdate


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Everything ``bulkupdate run`` was asked to do, checked.

    The numbers come from ``inputs``, or, with ``account`` (``--from-account``), from the
    account's own listing; never both.
    """

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
    journal_dir: str | None = None
    keep_days: int | None = None
    force: bool = False
    log_format: str = "text"
    quiet: bool = False
    allow_insecure_http: bool = False
    budget: str | None = None  # a Redis URL: the account's budget shared between processes
    account: AccountNumbers | None = None

    def __post_init__(self) -> None:
        check_pace(self.rate, self.timeout)
        if self.budget is not None:
            check_budget_url(self.budget)
        if self.account is not None and self.inputs.paths:
            raise UsageError(
                "--from-account takes the numbers from the account's listing: give no input "
                "files with it"
            )
        if self.account is None and not self.inputs.paths:
            raise UsageError(
                "no input: give the files to read numbers from, or --from-account with "
                "--filter NAME=VALUE to update the account's numbers that match"
            )
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
        if self.journal_dir is not None:
            self._check_journal_dir()
        elif self.keep_days is not None:
            raise UsageError("--keep-days goes with --journal-dir: it prunes that directory")

    def _check_journal_dir(self) -> None:
        if self.journal is not None:
            raise UsageError("--journal and --journal-dir cannot go together: pick one")
        if self.force:
            raise UsageError(
                "--force goes with --journal PATH: with --journal-dir, changed inputs are "
                "another run, which gets a journal of its own"
            )
        if STDIN in self.inputs.paths:
            raise UsageError(
                "--journal-dir needs input files: standard input cannot be read again to "
                "tell whether a run is the same or to resume it"
            )
        if self.keep_days is not None and not self.keep_days >= 0:
            raise UsageError(f"--keep-days must be 0 or more, got {self.keep_days}")

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
            # Where the budget was shared, without its password (give --budget to resume).
            "budget": None if self.budget is None else redacted_url(self.budget),
            "account": None if self.account is None else self.account.describe(),
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
                account=AccountNumbers(settings["account"]) if settings.get("account") else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"the journal's settings cannot be read ({exc})") from exc
        shared = settings.get("budget")
        if overrides.get("budget") is None and shared is not None:
            if urlsplit(shared).password is not None:  # recorded hidden
                raise UsageError(
                    f"the run shared the account's budget through {shared}: resume it with "
                    "--budget and that URL, password included"
                )
            overrides["budget"] = shared
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
