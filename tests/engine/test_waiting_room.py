"""The waiting room: numbers kept until the listing names them, in bounded numbers."""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import pytest

from bulkupdate.engine.waiting_room import WaitingRoom
from bulkupdate.input.dedupe import number_key


class Released:
    def __init__(self) -> None:
        self.values: list[str] = []

    def __call__(self, values: Sequence[str]) -> None:
        self.values.extend(values)


def never_listed(value: str) -> bool:
    return False


async def test_numbers_listed_already_go_on_and_the_rest_wait() -> None:
    released = Released()
    room = WaitingRoom(10, released)
    await room.enter(["+13125550001", "+13125550002", "123"], lambda v: v == "+13125550002")
    assert released.values == ["+13125550002"]
    assert len(room) == 2


async def test_a_page_that_lists_waiting_numbers_sends_them_on() -> None:
    released = Released()
    room = WaitingRoom(10, released)
    await room.enter(["+13125550001", "+13125550002", "123"], never_listed)
    room.listed([number_key("+13125550002"), number_key("123"), number_key("+13125559999")])
    assert sorted(released.values) == ["+13125550002", "123"]
    assert len(room) == 1


async def test_the_end_of_the_listing_sends_every_number_on_and_keeps_none_after() -> None:
    released = Released()
    room = WaitingRoom(10, released)
    await room.enter(["+13125550001", "+13125550002"], never_listed)
    room.release_all()
    assert sorted(released.values) == ["+13125550001", "+13125550002"]
    await room.enter(["+13125550003"], never_listed)
    assert released.values[-1] == "+13125550003"
    assert len(room) == 0


async def test_an_empty_room_takes_a_batch_larger_than_itself() -> None:
    room = WaitingRoom(2, Released())
    with anyio.fail_after(1):
        await room.enter([f"+1312555000{n}" for n in range(5)], never_listed)
    assert len(room) == 5


async def test_a_full_room_holds_the_next_batch_until_a_page_makes_space() -> None:
    released = Released()
    room = WaitingRoom(3, released)
    await room.enter(["+13125550001", "+13125550002", "+13125550003"], never_listed)
    entered = anyio.Event()

    async def enter_more() -> None:
        await room.enter(["+13125550004", "+13125550005"], never_listed)
        entered.set()

    async with anyio.create_task_group() as group:
        group.start_soon(enter_more)
        await anyio.wait_all_tasks_blocked()
        assert not entered.is_set()  # 3 + 2 > 3: it waits
        room.listed([number_key("+13125550001")])
        await anyio.wait_all_tasks_blocked()
        assert not entered.is_set()  # 2 + 2 > 3 still
        room.listed([number_key("+13125550002"), number_key("+13125550003")])
        with anyio.fail_after(1):
            await entered.wait()
    assert len(room) == 2


async def test_the_end_of_the_listing_lets_a_waiting_batch_straight_through() -> None:
    released = Released()
    room = WaitingRoom(1, released)
    await room.enter(["+13125550001"], never_listed)

    async with anyio.create_task_group() as group:
        group.start_soon(room.enter, ["+13125550002"], never_listed)
        await anyio.wait_all_tasks_blocked()
        room.release_all()
    assert sorted(released.values) == ["+13125550001", "+13125550002"]


@pytest.mark.parametrize("capacity", [1, 1000])
def test_repr_shows_how_full_the_room_is(capacity: int) -> None:
    assert repr(WaitingRoom(capacity, Released())) == f"<WaitingRoom 0/{capacity}>"
