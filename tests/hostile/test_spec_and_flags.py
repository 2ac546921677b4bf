"""Hostile update specs and flags: refused before anything is read or sent, in one line
that names the field or the flag."""

from __future__ import annotations

import pytest

from tests.hostile.world import World

NOTHING_SENT = r".*; nothing was sent$"


def spec_refused(world: World, says: str, *args: str) -> None:
    world.numbers()
    outcome = world.run("run", "numbers.txt", *args, "--base-url", world.base_url)
    world.check(outcome, code=2, says=r"^bulkupdate: invalid update spec: " + says + NOTHING_SENT)


# -- spec --------------------------------------------------------------------------------


def test_a_json_spec_nested_a_hundred_thousand_deep(world: World) -> None:
    world.file("spec.json", '{"tags": ' + "[" * 100_000 + "]" * 100_000 + "}")
    spec_refused(world, r"spec\.json: nested more than 8 levels deep", "--spec", "spec.json")


def test_a_toml_spec_nested_a_hundred_thousand_deep(world: World) -> None:
    world.file("spec.toml", "tags = " + "[" * 100_000 + "]" * 100_000 + "\n")
    spec_refused(world, r"spec\.toml: nested more than 8 levels deep", "--spec", "spec.toml")


def test_a_spec_of_two_megabytes(world: World) -> None:
    world.file("spec.json", '{"tags": ["' + "x" * (2 * 1024 * 1024) + '"]}')
    spec_refused(world, r"spec\.json: over 1,048,576 bytes", "--spec", "spec.json")


def test_a_spec_that_is_not_utf8(world: World) -> None:
    world.file("spec.toml", b'tags = ["\xff\xfe"]\n')
    spec_refused(
        world, r"spec\.toml: not UTF-8 text \(bad byte at offset 9\)", "--spec", "spec.toml"
    )


def test_a_spec_that_is_a_directory(world: World) -> None:
    (world.folder / "spec.toml").mkdir()
    spec_refused(
        world, r"spec\.toml: cannot read the spec file: Is a directory", "--spec", "spec.toml"
    )


def test_a_spec_whose_tag_holds_an_escape_sequence(world: World) -> None:
    world.file("spec.json", '{"tags": ["ok", "\\u001b]0;owned\\u0007"]}')
    spec_refused(
        world,
        r"tags must not hold control characters or undecodable bytes, got '\\x1b\]0;owned\\x07'",
        "--spec",
        "spec.json",
    )


def test_a_spec_with_infinity_for_a_boolean(world: World) -> None:
    world.file("spec.toml", "hd_voice_enabled = inf\n")
    spec_refused(
        world, r"hd_voice_enabled must be true or false .*got inf \(float\)", "--spec", "spec.toml"
    )


def test_a_set_with_a_field_name_of_a_hundred_thousand_characters(world: World) -> None:
    name = "voice." * 20_000
    spec_refused(
        world, r"unknown field 'voice\.voice\..*…' \(120,000 characters\)", "--set", f"{name}=1"
    )


def test_a_set_with_bytes_that_are_not_utf8(world: World) -> None:
    spec_refused(
        world,
        r"customer_reference must not hold .*got 'a\\udcffb'",
        "--set",
        "customer_reference=a\udcffb",
    )


def test_a_filter_with_a_newline(world: World) -> None:
    spec_refused(
        world,
        r"filter tag must not hold control characters .*got 'legacy\\nx'",
        "--set",
        "tags=a",
        "--filter",
        "tag=legacy\nx",
    )


# -- flags -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (
            ["--rate", "inf"],
            r"--rate must be a number from 0\.01 to 10,000 requests a second, got inf",
        ),
        (["--rate", "nan"], r"--rate must be a number from .*, got nan"),
        (["--timeout=1e309"], r"--timeout must be a number from 0\.1 to 3,600 seconds, got inf"),
        (
            ["--max-active-jobs", "1" + "0" * 30],
            r"--max-active-jobs must be a whole number from 1 to 1,000",
        ),
        (["--max-attempts=-1"], r"--max-attempts must be a whole number from 1 to 100, got -1"),
        (["--batch-size", "0"], r"--batch-size 0 is out of range: the API takes 1 to 1000"),
        (["--rate", "1" * 5000], r"--rate must be a number from .*, got inf"),
        (
            ["--default-region", "\x1b[31mUS"],
            r"--default-region '\\x1b\[31mUS' is not a known region",
        ),
        (["--format", "xlsx\x07"], r"argument --format: invalid choice: 'xlsx\\x07'"),
        (["--frobnicate"], r"unrecognized arguments: --frobnicate"),
    ],
)
def test_a_bad_flag_is_one_line_naming_it(world: World, flags: list[str], says: str) -> None:
    world.numbers()
    outcome = world.update("numbers.txt", *flags)
    world.check(outcome, code=2, says=says)


def test_a_sandbox_settings_file_that_says_infinity(world: World) -> None:
    world.numbers()
    world.file("sandbox.toml", "op_ms = inf\n")
    outcome = world.run(
        "run", "numbers.txt", "--set", "tags=a", "--sandbox", "--sandbox-config", "sandbox.toml"
    )
    world.check(outcome, code=2, says=r"--sandbox-config sandbox\.toml: .*op_ms must be a number")
    assert not (world.folder / "bulkupdate-runs").exists()  # refused before any journal
