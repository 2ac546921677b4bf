"""A server that answers badly: what it says reaches no terminal and no report unescaped,
and its redirects carry the key nowhere."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import orjson

from tests.hostile.badserver import BadServer
from tests.hostile.world import KEY, World, run_command

NUMBERS = ["+13125550100", "+13125550101", "+13125550102"]
POST = "/phone_numbers/jobs/update_phone_numbers"
HOSTILE = '=HYPERLINK("http://evil.example")\x1b]0;owned\x07\x1b[2J\x9b31m\nforged line'


def refuse(status: int, detail: str, code: str = "10015") -> dict[str, Any]:
    return {"errors": [{"code": code, "title": "Refused\x1b[5m", "detail": detail}]}


def job(job_id: str, status: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    failed = [{"phone_number": n, "errors": errors} for n in NUMBERS] if errors else []
    return {
        "id": job_id,
        "record_type": "phone_numbers_job",
        "type": "update_phone_numbers",
        "status": status,
        "created_at": now,
        "updated_at": now,
        "etc": now,
        "phone_numbers": [{"phone_number": n} for n in NUMBERS],
        "successful_operations": [],
        "pending_operations": [] if errors else [{"phone_number": n} for n in NUMBERS],
        "failed_operations": failed,
    }


def update(world: World, *args: str) -> Any:
    world.file("numbers.txt", "".join(n + "\n" for n in NUMBERS))
    return world.update("numbers.txt", "--journal", "run.journal", *args)


def test_a_refusal_whose_detail_holds_escapes_and_a_newline(
    bad_world: World, bad_server: BadServer
) -> None:
    bad_server.answer("POST", POST, 422, refuse(422, HOSTILE))
    outcome = update(bad_world, "--report", "report.jsonl")
    bad_world.check(
        outcome,
        code=1,
        says=r"  3 × 10015 =HYPERLINK.*\\x1b\]0;owned\\x07.*\\nforged line",
        requests=1,
    )
    assert "forged line" not in outcome.err.replace("\\nforged line", "")
    report = (bad_world.folder / "report.jsonl").read_text()
    assert "\\\\x1b]0;owned" in report
    assert "\\u001b" not in report


def test_a_401_that_echoes_the_key_back(bad_world: World, bad_server: BadServer) -> None:
    bad_server.answer("POST", POST, 401, refuse(401, f"Bearer {KEY} is not valid\x1b[2J", "10009"))
    outcome = update(bad_world)
    bad_world.check(
        outcome,
        code=3,
        says=r"the API refused the key \(HTTP 401: 10009 Bearer \[redacted\] is not valid\\x1b",
        requests=1,
        alone=False,
    )
    assert KEY not in outcome.err


def test_a_403_whose_body_is_not_json(bad_world: World, bad_server: BadServer) -> None:
    bad_server.answer(
        "POST", POST, 403, b"<h1>Forbidden\x1b[?1049h\x00</h1>\r\n", {"Content-Type": "text/html"}
    )
    outcome = update(bad_world)
    bad_world.check(
        outcome,
        code=3,
        says=r"HTTP 403: <h1>Forbidden\\x1b\[\?1049h\\x00</h1>",
        requests=1,
        alone=False,
    )


def test_a_400_of_garbage_stops_the_run_in_one_line(
    bad_world: World, bad_server: BadServer
) -> None:
    bad_server.answer(
        "POST", POST, 400, b"\x00\x1b[2J\xff\xfe garbage", {"Content-Type": "text/plain"}
    )
    outcome = update(bad_world)
    bad_world.check(
        outcome,
        code=1,
        says="^bulkupdate: error: HTTP 400: \\\\x00\\\\x1b\\[2J\ufffd\ufffd garbage",
        requests=1,
        alone=False,
    )


def test_a_redirect_is_not_followed(bad_world: World, bad_server: BadServer) -> None:
    elsewhere = bad_server.base_url + "/elsewhere"
    bad_server.answer("POST", POST, 307, b"", {"Location": elsewhere})
    bad_server.answer("POST", "/elsewhere", 202, {"data": job("job-1", "pending")})
    outcome = update(bad_world)
    bad_world.check(
        outcome,
        code=1,
        says=r"^bulkupdate: error: HTTP 307: .*unexpected status 307",
        requests=1,
        alone=False,
    )
    assert bad_server.requests["POST /v2/elsewhere"] == 0  # the key went nowhere else


def test_an_enormous_error_detail_is_shown_short(bad_world: World, bad_server: BadServer) -> None:
    bad_server.answer("POST", POST, 422, refuse(422, "x" * 100_000))
    outcome = update(bad_world)
    bad_world.check(outcome, code=1, says=r"  3 × 10015 x+…$", requests=1)
    assert max(len(line) for line in outcome.err_lines) < 400


def test_job_ids_and_failure_details_full_of_escapes_and_formulas(
    bad_world: World, bad_server: BadServer
) -> None:
    job_id = "\x1b]0;job\x07-\x9b1"
    errors = [
        {"code": "=10015", "title": "Bad", "detail": HOSTILE, "source": {"pointer": "/\x1b[2J"}}
    ]
    bad_server.answer("POST", POST, 202, {"data": job(job_id, "pending")})
    finished = job(job_id, "completed", errors)
    bad_server.answer("GET", "/phone_numbers/jobs/", 200, {"data": finished})
    bad_server.answer(
        "GET", "/phone_numbers/jobs", 200, {"data": [finished], "meta": {"total_pages": 1}}
    )
    outcome = update(bad_world, "--log-format", "json")
    bad_world.check(outcome, code=1, says=r'"event":"job_finished"', requests=None, alone=False)
    events = [orjson.loads(line) for line in outcome.err_lines]
    submitted = next(e for e in events if e["event"] == "batch_submitted")
    assert submitted["job_id"] == "\\x1b]0;job\\x07-\\x9b1"

    shown = run_command(["status", "run.journal"], cwd=bad_world.folder, env=bad_world.env)
    assert shown.code == 0
    assert all(line.isprintable() for line in shown.out.splitlines())
    assert "=10015 =HYPERLINK" in shown.out
    assert "\\x1b]0;owned\\x07" in shown.out

    table = run_command(
        ["report", "run.journal", "--format", "csv"], cwd=bad_world.folder, env=bad_world.env
    )
    assert table.code == 0
    rows = list(csv.DictReader(io.StringIO(table.out)))
    assert [row["phone_number"] for row in rows] == NUMBERS  # +E.164 exactly as it is
    for row in rows:
        assert row["error_codes"] == "'=10015"
        assert row["error_details"].startswith("'=HYPERLINK")
        assert row["job_ids"] == "\\x1b]0;job\\x07-\\x9b1"
        assert "\x1b" not in "".join(row.values())
