"""``bulkupdate run``'s own settings of the process, and that it gives them back."""

from __future__ import annotations

import gc

from bulkupdate.runs.run_command import _fewer_collections


def test_a_run_collects_garbage_less_often_and_gives_the_setting_back() -> None:
    before = gc.get_threshold()
    with _fewer_collections():
        during = gc.get_threshold()
    assert during == (20_000, *before[1:])
    assert gc.get_threshold() == before
