"""The world a hostile case runs in: a folder of files, the real command, what it did.

Each case runs ``python -m bulkupdate ...`` in a child process, in a folder of its own,
against a server in another process, and then holds the outcome to the same promises:

- the exit code the case expects;
- the answer to the bad thing is one line that says it (for a refusal, the only line);
- no traceback, and nothing on stdout or stderr a terminal would act on;
- the server's request count (0 when the command refused before sending);
- every file that was there before is unchanged (byte for byte; files over 4 MiB, which
  the suite makes only to be read, by size, inode and change time: any write moves it);
- the command's own peak memory (see ``LAUNCHER``) stays under ``PEAK_MB``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

PEAK_MB = 150.0
KEY = "KEYhostile0123456789abcdefghijklmnopqrstuvwxyz"
SMALL = 4 * 1024 * 1024
TIMEOUT = 120


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the command did: exit code, its output, its peak memory."""

    code: int
    out: str
    err: str
    peak_mb: float

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()


@dataclass
class World:
    """A folder for one case, the command to run in it, and the server it talks to."""

    folder: Path
    requests: Callable[[], int]  # the server's request count
    base_url: str
    env: dict[str, str] = field(default_factory=dict)
    _before: dict[str, object] = field(default_factory=dict)
    _sent_before: int = 0

    def file(self, name: str, content: bytes | str = b"") -> Path:
        path = self.folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path

    def numbers(self, name: str = "numbers.txt", count: int = 3, first: int = 0) -> Path:
        lines = "".join(f"+1312{2_000_000 + n:07d}\n" for n in range(first, first + count))
        return self.file(name, lines)

    def update(self, *args: str, **options: object) -> Outcome:
        """``bulkupdate run ARGS`` setting a tag, against this world's server."""
        return self.run(
            "run",
            *args,
            "--set",
            "tags=hostile",
            "--base-url",
            self.base_url,
            **options,  # type: ignore[arg-type]
        )

    def dry(self, *args: str, **options: object) -> Outcome:
        """``bulkupdate run ARGS --dry-run``: the same reading, checking and batching, with
        the plan on stdout and nothing sent (quicker, where a case needs no requests)."""
        return self.run("run", *args, "--set", "tags=hostile", "--dry-run", **options)  # type: ignore[arg-type]

    def run(
        self,
        *args: str,
        stdin: bytes | Iterable[bytes] | None = None,
        env: Mapping[str, str | None] | None = None,
        cwd: Path | None = None,
    ) -> Outcome:
        """Run the command; files present now are the ones that must not change, and
        requests are counted from now."""
        self._before = snapshot(self.folder)
        self._sent_before = self.requests()
        merged = dict(self.env)
        for name, value in (env or {}).items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        return run_command(list(args), cwd=cwd or self.folder, env=merged, stdin=stdin)

    def check(
        self,
        outcome: Outcome,
        *,
        code: int,
        says: str,
        requests: int | None = 0,
        alone: bool | None = None,
        stream: str = "err",
        changed: Iterable[str] = (),
    ) -> None:
        """Hold ``outcome`` to every promise (see the module docstring).

        ``says`` is a regular expression the one line telling the bad thing matches;
        ``alone`` (default: for exit 2) that it is the only line on stderr; ``requests``
        None means "some": the run went on for the good entries; ``changed`` names the
        files the command may write over (an old report of its own).
        """
        text = outcome.err if stream == "err" else outcome.out
        for output in (outcome.out, outcome.err):
            assert "Traceback" not in output, output[-3000:]
            for line in output.splitlines():
                assert line.isprintable(), f"not printable: {line!r}"
        matching = [line for line in text.splitlines() if re.search(says, line)]
        assert len(matching) == 1, f"{says!r} in one line of:\n{text[-3000:]}"
        if alone if alone is not None else code == 2:
            assert outcome.err_lines == matching, outcome.err
        assert outcome.code == code, f"exit {outcome.code}, not {code}:\n{outcome.err[-3000:]}"
        sent = self.requests() - self._sent_before
        if requests is None:
            assert sent > 0, "the good entries were not sent"
        else:
            assert sent == requests, f"{sent} requests, not {requests}"
        kept = {name: held for name, held in self._before.items() if name not in changed}
        assert snapshot(self.folder, only=kept) == kept, "a file changed"
        assert outcome.peak_mb <= PEAK_MB, f"peak {outcome.peak_mb:.0f} MB"


def snapshot(folder: Path, only: Mapping[str, object] | None = None) -> dict[str, object]:
    """What each file under ``folder`` holds (``only``: just these names)."""
    found: dict[str, object] = {}
    names = only.keys() if only is not None else _files(folder)
    for name in names:
        path = folder / name
        try:
            info = path.lstat()
        except OSError:
            found[name] = "gone"
            continue
        if path.is_symlink():
            found[name] = ("link", os.readlink(path))
        elif not path.is_file():
            found[name] = ("other", info.st_mode)
        elif info.st_size > SMALL:
            found[name] = ("big", info.st_size, info.st_ino, info.st_mtime_ns, info.st_ctime_ns)
        else:
            found[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _files(folder: Path) -> Iterator[str]:
    for root, dirs, files in os.walk(folder):
        for name in [*files, *(d for d in dirs if Path(root, d).is_symlink())]:
            yield str(Path(root, name).relative_to(folder))


# Linux counts a child's memory at fork (a copy of its parent's) in its peak RSS, so a
# child forked from pytest would report pytest's size. This launcher, a fresh interpreter
# of a few MB, starts the command itself and reports the command's own peak.
LAUNCHER = """
import os, sys
report, argv = sys.argv[1], sys.argv[2:]
pid = os.posix_spawn(argv[0], argv, os.environ)
_, status, usage = os.wait4(pid, 0)
with open(report, "w") as file:
    file.write(str(usage.ru_maxrss))
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def run_command(
    args: list[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    stdin: bytes | Iterable[bytes] | None = None,
) -> Outcome:
    """``python -m bulkupdate ARGS`` in a child; its exit code, output and peak RSS."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile() as peak,
    ):
        feeding = stdin is not None and not isinstance(stdin, bytes)
        stdin_file: IO[bytes] | int = subprocess.DEVNULL
        if isinstance(stdin, bytes):
            stdin_file = tempfile.TemporaryFile()  # noqa: SIM115 (closed below)
            stdin_file.write(stdin)
            stdin_file.seek(0)
        command = [sys.executable, "-m", "bulkupdate", *args]
        process = subprocess.Popen(
            [sys.executable, "-S", "-c", LAUNCHER, peak.name, *command],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.PIPE if feeding else stdin_file,
            stdout=out,
            stderr=err,
            start_new_session=True,  # so a timeout stops the command with its launcher
        )
        feeder = None
        if feeding:
            assert process.stdin is not None
            assert stdin is not None
            feeder = threading.Thread(target=_feed, args=(process.stdin, stdin), daemon=True)
            feeder.start()
        try:
            process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
        finally:
            if feeder is not None:
                feeder.join(timeout=10)
            if not isinstance(stdin_file, int):
                stdin_file.close()
        out.seek(0)
        err.seek(0)
        return Outcome(
            process.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            int(Path(peak.name).read_text() or 0) / 1024,
        )


def _feed(pipe: IO[bytes], chunks: Iterable[bytes]) -> None:
    try:
        for chunk in chunks:
            pipe.write(chunk)
    except BrokenPipeError:
        pass  # the command stopped reading: what it did is in the outcome
    finally:
        with contextlib.suppress(BrokenPipeError):
            pipe.close()
