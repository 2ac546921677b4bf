"""Every value checked before use: numbers, API keys, base URLs, spec files and strings."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

import bulkupdate.credentials as credentials_module
import bulkupdate.settings as settings_module
from bulkupdate import BulkUpdater
from bulkupdate.api.client import ApiClient
from bulkupdate.cli import main
from bulkupdate.credentials import check_api_key, check_base_url, is_loopback, without_key
from bulkupdate.errors import SpecError, UsageError
from bulkupdate.input.number_streams import NumberFiles
from bulkupdate.request.spec import load_update_spec
from bulkupdate.request.spec_files import MAX_SPEC_BYTES, MAX_SPEC_DEPTH, read_spec_file
from bulkupdate.runs.run_options import RunOptions, fingerprints
from bulkupdate.sandbox import SandboxConfig
from bulkupdate.settings import EngineSettings

KEY = "KEYabcdefghijklmnopqrstuvwxyz0123456789"


def test_the_module_examples_hold() -> None:
    assert doctest.testmod(credentials_module).failed == 0
    assert doctest.testmod(settings_module).failed == 0


@pytest.mark.parametrize(
    ("key", "what"),
    [
        (KEY + "\n", "a line break at character 40 of 40"),
        (" " + KEY, "a space at character 1"),
        (KEY[:5] + "\t" + KEY[5:], "a tab at character 6"),
        (KEY + "\x1b[2J", "a control character"),
        (KEY + "é", "a character outside ASCII"),
        (KEY + "\u00a0", "white space"),
        ("K" * 5000, "5,000 characters long"),
    ],
)
def test_api_keys_with_whitespace_or_controls_are_refused_unseen(key: str, what: str) -> None:
    with pytest.raises(UsageError, match=what) as raised:
        check_api_key(key)
    assert KEY not in str(raised.value)
    assert "TELNYX_API_KEY" in str(raised.value)


def test_the_library_and_the_client_check_the_key_too() -> None:
    for make in (lambda: BulkUpdater(KEY + "\n"), lambda: ApiClient(KEY + "\r\n")):
        with pytest.raises(UsageError, match="line break") as raised:
            make()
        assert KEY not in str(raised.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.telnyx.com/v2",
        "http://127.0.0.1:8765/v2",
        "http://127.8.9.10/v2",
        "http://localhost:1/v2",
        "http://LOCALHOST./v2",
        "http://[::1]:8080/v2",
        "http://[::ffff:127.0.0.1]/v2",
    ],
)
def test_https_anywhere_and_http_to_this_machine_are_fine(url: str) -> None:
    assert check_base_url(url, allow_insecure_http=False) == url


@pytest.mark.parametrize(
    "url",
    [
        "http://api.telnyx.com/v2",
        "http://10.0.0.5/v2",
        "http://[2001:db8::1]/v2",
        "http://127.0.0.1.nip.io/v2",
        "http://localhost.evil.example/v2",
        "http://0.0.0.0:8765/v2",
    ],
)
def test_plain_http_elsewhere_needs_consent(url: str) -> None:
    with pytest.raises(UsageError, match="--allow-insecure-http"):
        check_base_url(url, allow_insecure_http=False)
    assert check_base_url(url, allow_insecure_http=True) == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("api.telnyx.com/v2", "must be an http:// or https:// URL"),
        ("ftp://api.telnyx.com", "must be an http:// or https:// URL"),
        ("https://user:secret@api.telnyx.com/v2", "user name or password"),
        ("http://127.0.0.1@evil.example/v2", "user name or password"),  # host: evil.example
        ("https://api.telnyx.com/v2?x=1", "query or a fragment"),
        ("https://api.telnyx.com:port/v2", "port that is not a number"),
        ("https://api.telnyx.com/v2\n", "control characters"),
    ],
)
def test_base_urls_that_cannot_be_used_are_refused(url: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as raised:
        check_base_url(url, allow_insecure_http=True)
    assert "secret" not in str(raised.value)


def test_loopback_is_the_machine_itself_only() -> None:
    assert [is_loopback(h) for h in ("127.0.0.1", "127.255.255.254", "::1", "localhost")] == [
        True
    ] * 4
    assert not any(is_loopback(h) for h in ("128.0.0.1", "::2", "localhostx", "", "10.0.0.1"))


def test_without_key_replaces_every_occurrence() -> None:
    assert without_key(f"a {KEY} b {KEY}", KEY) == "a [redacted] b [redacted]"
    assert without_key("nothing here", KEY) == "nothing here"
    assert without_key("abc", "") == "abc"


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), 0, -1, 1e308])
def test_non_finite_or_absurd_rates_are_refused_by_the_library(value: float) -> None:
    with pytest.raises(UsageError, match="rate must be a number from"):
        BulkUpdater(KEY, rate=value)
    with pytest.raises(UsageError, match="timeout must be a number from"):
        BulkUpdater(KEY, timeout=value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_active_jobs", 0),
        ("max_active_jobs", 10**9),
        ("max_attempts", 101),
        ("max_attempts", 2.5),
    ],
)
def test_engine_settings_are_bounded(field: str, value: int) -> None:
    with pytest.raises(UsageError, match="--" + field.replace("_", "-")):
        EngineSettings(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--rate", "inf"], "--rate must be a number from 0.01 to 10,000"),
        (["--rate", "nan"], "--rate must be"),
        (["--rate", "1e400"], "--rate must be"),
        (["--timeout=-inf"], "--timeout must be a number from 0.1 to 3,600"),
        (["--max-active-jobs", "99999999999999999999"], "--max-active-jobs must be"),
        (["--max-attempts", "1e3"], "argument --max-attempts: invalid int value"),
        (["--batch-size", "-5"], "--batch-size -5 is out of range"),
    ],
)
def test_bad_numbers_are_one_line_that_names_the_flag(
    flags: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    numbers = tmp_path / "n.txt"
    numbers.write_text("+13125550100\n")
    try:
        code = main(["run", str(numbers), "--set", "tags=a", "--dry-run", *flags])
    except SystemExit as exit_:  # argparse's own refusals
        code = int(str(exit_.code))
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1, err
    assert message in err


def test_a_spec_file_too_big_or_too_deep_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_text('{"tags": ["' + "x" * MAX_SPEC_BYTES + '"]}')
    assert "far too big" in read_spec_file(big)[1][0]
    for name, text in (
        ("deep.json", '{"tags": ' + "[" * 50_000 + "]" * 50_000 + "}"),
        ("deep.toml", "tags = " + "[" * 50_000 + "]" * 50_000 + "\n"),
        ("nine.json", '{"a": ' * (MAX_SPEC_DEPTH + 1) + "1" + "}" * (MAX_SPEC_DEPTH + 1)),
        ("dotted.toml", ".".join(["a"] * 5000) + " = 1\n"),
    ):
        path = tmp_path / name
        path.write_text(text)
        data, problems = read_spec_file(path)
        assert data == {}
        assert problems == [
            f"{path}: nested more than {MAX_SPEC_DEPTH} levels deep; an update spec is a few "
            "levels of fields (voice.call_forwarding.forwards_to)"
        ]


@pytest.mark.parametrize(
    "setting",
    [
        "tags=ok,\x1b[31mred",
        "customer_reference=a\x00b",
        "external_pin=\x9b1",
        "customer_reference=\udcff",  # an undecodable byte in argv
    ],
)
def test_spec_strings_may_not_hold_control_characters(setting: str) -> None:
    with pytest.raises(SpecError, match="must not hold control characters or undecodable"):
        load_update_spec(sets=[setting])


def test_a_huge_unknown_field_name_is_reported_short_and_fast() -> None:
    with pytest.raises(SpecError) as raised:
        load_update_spec(sets=["a." * 60_000 + "b=1"])
    (problem,) = raised.value.problems
    assert "(120,001 characters)" in problem
    assert len(problem) < 200


def test_consent_to_plain_http_is_kept_for_resume(tmp_path: Path) -> None:
    numbers = tmp_path / "n.txt"
    numbers.write_text("+13125550100\n")
    spec = load_update_spec(sets=["tags=a"])
    remote = "http://10.0.0.5:8080/v2"
    with pytest.raises(UsageError, match="--allow-insecure-http"):
        RunOptions(NumberFiles(str(numbers)), spec, EngineSettings(), base_url=remote)
    options = RunOptions(
        NumberFiles(str(numbers)), spec, EngineSettings(), base_url=remote, allow_insecure_http=True
    )
    settings = options.settings(fingerprints(options.inputs))
    assert settings["allow_insecure_http"] is True
    assert RunOptions.from_settings(settings).allow_insecure_http is True
    del settings["allow_insecure_http"]  # a journal written before the flag existed
    with pytest.raises(UsageError, match="--allow-insecure-http"):
        RunOptions.from_settings(settings)


def test_names_with_undecodable_bytes_are_refused_before_the_journal(tmp_path: Path) -> None:
    odd = tmp_path / "\udcff.txt"
    spec = load_update_spec(sets=["tags=a"])
    with pytest.raises(UsageError, match=r"input .*\\udcff\.txt: holds bytes that are not UTF-8"):
        RunOptions(NumberFiles(str(odd)), spec, EngineSettings(), sandbox=True)


@pytest.mark.parametrize(
    ("setting", "value"),
    [("op_ms", float("inf")), ("op_ms", 1e308), ("job_ttl", float("nan")), ("rate", 1e300)],
)
def test_sandbox_settings_from_a_file_must_be_sane_numbers(setting: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"{setting} must be a number no larger than"):
        SandboxConfig(**{setting: value})  # type: ignore[arg-type]


async def test_the_key_is_in_no_repr() -> None:
    updater = BulkUpdater(KEY)
    client = ApiClient(KEY)
    assert KEY not in repr(updater)
    assert KEY not in repr(client)
    async with updater:
        assert KEY not in repr(updater)
