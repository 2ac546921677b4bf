"""A run's settings, and the journal that makes it durable: start one, or pick one up.

Everything that can be wrong with the settings is found before the first request: the
spec, the flags, the input files, the API key, the journal. The settings a journal keeps
(never the API key) are enough to rebuild the run for ``bulkupdate resume``.

A journal belongs to one process at a time: its lock (``journal_lock``) is taken before
the journal is read for a resume or written, and held until the run closes it. Two
runs are the same run when they read the same inputs (same bytes) the same way, to send
the same update to the same server; only the same run is ever resumed.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bulkupdate.budget import check_budget_url, redacted_url
from bulkupdate.credentials import check_api_key, check_base_url
from bulkupdate.engine.resume_state import ResumeState
from bulkupdate.errors import UsageError
from bulkupdate.escaping import printable
from bulkupdate.input.number_streams import NumberFiles
from bulkupdate.input.sources import STDIN, InputFormat
from bulkupdate.request.selection import AccountNumbers
from bulkupdate.request.spec import UpdateSpec
from bulkupdate.runs.journal import InputFingerprint, Journal
from bulkupdate.runs.journal_dir import journal_in
from bulkupdate.runs.journal_lock import JournalLock
from bulkupdate.settings import DEFAULT_BASE_URL, EngineSettings, OwnershipMode, check_pace

SANDBOX_KEY = "sandbox-key"
RUNS_DIRECTORY = "bulkupdate-runs"

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


def changed_inputs(
    settings: dict[str, Any], now: list[InputFingerprint] | None = None
) -> list[str]:
    """How each recorded input differs from what is on disk now (empty: unchanged).

    ``now`` holds fingerprints already taken, so that no file is read twice.
    """
    taken = {found.path: found for found in now or ()}
    problems = []
    for item in settings.get("inputs", []):
        path = item["path"]
        if path == STDIN:
            problems.append("the run read standard input, which cannot be read again")
            continue
        if item["size"] == -1:
            problems.append(f"the run read {path}, a pipe, which cannot be read again")
            continue
        if path in taken:
            now_is = taken[path]
        elif os.path.isfile(path):
            now_is = InputFingerprint.of(path)
        else:
            problems.append(f"{path} is gone")
            continue
        if now_is.size != item["size"]:
            problems.append(f"{path} was {item['size']:,} bytes and is now {now_is.size:,}")
        elif now_is.sha256 != item["sha256"]:
            problems.append(f"{path} has the same size but different content")
    return problems


def new_journal_path() -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return str(Path(RUNS_DIRECTORY) / f"run-{stamp}-{secrets.token_hex(3)}.journal")


def run_identity(settings: dict[str, Any]) -> dict[str, Any]:
    """What makes two runs the same run: inputs (and their bytes) or the selection of the
    account's numbers, reading, update, server."""
    identity = {
        "request": settings.get("request"),
        "read": settings.get("read"),
        "inputs": settings.get("inputs"),
        "server": [settings.get("base_url"), settings.get("sandbox")],
    }
    if settings.get("account") is not None:
        identity["account"] = settings["account"]
    return identity


def other_run(recorded: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """How the run ``recorded`` differs from ``now``, leaving aside the inputs' content.

    Another update, other inputs, the same inputs read another way (a region, a column,
    ids) or another server: any of them makes the recorded run's positions in the input,
    its jobs and its lost POSTs meaningless for this one.
    """
    found = []
    if recorded.get("request") != now["request"]:
        found.append("another update")
    if [item["path"] for item in recorded.get("inputs", [])] != [
        item["path"] for item in now["inputs"]
    ]:
        found.append("other input files")
    elif recorded.get("read") != now["read"]:
        found.append("the inputs read with other options")
    if recorded.get("account") != now.get("account"):
        found.append("another selection of the account's numbers")
    if [recorded.get("base_url"), recorded.get("sandbox")] != [now["base_url"], now["sandbox"]]:
        found.append("another server")
    return found


@dataclass(slots=True)
class Durable:
    """The journal a run writes, what it resumes from (None for a new run), and its lock."""

    journal: Journal
    resume: ResumeState | None
    lock: JournalLock

    def close(self) -> None:
        """Close the journal, then let another process have it."""
        try:
            self.journal.close()
        finally:
            self.lock.release()


def start_or_resume(options: RunOptions) -> Durable:
    """Lock and open the run's journal: a new one, or the unfinished one of the same run.

    ``--journal PATH`` names the journal; ``--journal-dir DIR`` names the directory, in
    which the journal's name follows from the run's identity, so the same command line
    finds the same run night after night and other inputs get a journal of their own.
    Either way an unfinished journal of the same run is resumed and a finished one is
    ``AlreadyFinished``; a finished one of another run is refused (exit 2), never
    reported as done. ``JournalInUse`` if another process has the journal.
    """
    now = options.settings(fingerprints(options.inputs))
    if options.journal_dir is not None:
        # The account changes between runs: a finished selection is no answer for the next.
        again = options.account is not None
        path = str(journal_in(options.journal_dir, run_identity(now), again_when_finished=again))
    else:
        path = options.journal or new_journal_path()
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"journal {path}: cannot be created ({exc.strerror})") from exc
    lock = JournalLock.acquire(path)  # before the journal is read: see journal_lock
    try:
        if not os.path.exists(path):
            return Durable(Journal.create(path, now), None, lock)
        journal = Journal.open(path)
        try:
            resume = _same_run(journal, now, options)
        except BaseException:
            journal.close()
            raise
        return Durable(journal, resume, lock)
    except BaseException:
        lock.release()
        raise


def _same_run(journal: Journal, now: dict[str, Any], options: RunOptions) -> ResumeState:
    """What the locked ``journal`` leaves to do, if it records this same run unfinished."""
    recorded = journal.settings
    differences = other_run(recorded, now)
    if journal.finished:
        differences = differences or changed_inputs(recorded, _fingerprints_in(now))
        if differences:
            raise UsageError(_finished_other_run(journal, differences))
        raise AlreadyFinished(journal.path)
    if differences:
        raise UsageError(
            f"journal {journal.path} records another run ({', '.join(differences)}); "
            "give a new --journal path"
        )
    return pick_up(journal, force=options.force, now=_fingerprints_in(now))


def _finished_other_run(journal: Journal, differences: list[str]) -> str:
    finished_at = journal.meta("finished_at")
    when = (
        time.strftime(" %Y-%m-%d %H:%M UTC", time.gmtime(finished_at))
        if isinstance(finished_at, int | float)
        else ""
    )
    return (
        f"journal {journal.path} holds a run of different work, finished{when}: "
        + "; ".join(differences)
        + ". Nothing was sent. A journal records one run: give a new --journal path, or, "
        "for a command line that runs again and again (cron), --journal-dir DIR, which "
        "resumes an unfinished run of the same inputs and update and otherwise starts a "
        "new journal in DIR"
    )


def _fingerprints_in(settings: dict[str, Any]) -> list[InputFingerprint]:
    return [
        InputFingerprint(item["path"], item["size"], item["sha256"]) for item in settings["inputs"]
    ]


def open_locked(path: str) -> tuple[Journal, JournalLock]:
    """Lock the journal at ``path``, then open it (``bulkupdate resume``)."""
    if not Path(path).is_file():
        raise UsageError(f"journal {path}: no such file")
    lock = JournalLock.acquire(path)
    try:
        return Journal.open(path), lock
    except BaseException:
        lock.release()
        raise


def pick_up(
    journal: Journal, *, force: bool, now: list[InputFingerprint] | None = None
) -> ResumeState:
    """What ``journal`` left to do, once its inputs are checked (unless ``force``)."""
    if journal.finished:
        journal.close()
        raise AlreadyFinished(journal.path)
    problems = changed_inputs(journal.settings, now)
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
    """The journal records a finished run of the same work: there is nothing to resume."""

    def __init__(self, path: str) -> None:
        super().__init__(f"the run in {path} has finished; see: bulkupdate status {path}")
        self.path = path
