"""A large answer's map is read into again only once nothing of its last answer is left."""

from __future__ import annotations

import mmap

import msgspec

from bulkupdate.api.answer_maps import AnswerMaps


def _read_into(maps: AnswerMaps, body: bytes) -> memoryview:
    buffer = maps.take(len(body))
    buffer.write(body)
    maps.give_back(buffer)
    return memoryview(buffer)[: buffer.tell()]


def test_a_map_whose_answer_is_let_go_is_read_into_again() -> None:
    maps = AnswerMaps()
    first = _read_into(maps, b'{"data": [1, 2, 3]}')
    buffer = first.obj
    del first
    second = _read_into(maps, b'{"data": [4]}')
    assert second.obj is buffer
    assert bytes(second) == b'{"data": [4]}'


def test_a_map_with_a_slice_of_its_answer_still_in_use_is_left_alone() -> None:
    maps = AnswerMaps()
    answer = _read_into(maps, b'{"data": [[1, 2, 3]]}')
    kept = msgspec.json.decode(answer, type=dict[str, list[msgspec.Raw]])["data"][0]
    buffer = answer.obj
    del answer  # the raw list still points into the map
    second = _read_into(maps, b'{"data": [[9, 9, 9]]}')
    assert second.obj is not buffer
    assert bytes(kept) == b"[1, 2, 3]"


def test_a_map_grows_to_a_larger_answer_and_never_shrinks() -> None:
    maps = AnswerMaps()
    small = _read_into(maps, b"x" * 10)
    buffer = small.obj
    assert isinstance(buffer, mmap.mmap)
    del small
    large = _read_into(maps, b"y" * 100_000)
    assert large.obj is buffer
    assert len(large) == 100_000
    del large
    again = _read_into(maps, b"z" * 10)
    assert again.obj is buffer
    assert len(buffer) >= 100_000
    assert bytes(again) == b"z" * 10


def test_answers_read_at_the_same_time_get_maps_of_their_own() -> None:
    maps = AnswerMaps()
    first, second = maps.take(10), maps.take(10)
    assert first is not second
    maps.give_back(first)
    maps.give_back(second)
    assert maps.take(10) is second


def test_a_released_spare_is_not_read_into_again() -> None:
    maps = AnswerMaps()
    first = maps.take(10)
    maps.give_back(first)
    maps.release()
    assert maps.take(10) is not first
