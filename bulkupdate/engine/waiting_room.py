"""Numbers waiting for the account's listing to say whether they are the account's.

While the inventory loads (see ``ownership.py``) a batch cannot be screened yet. Sent
whole, it would be refused for the one number in a hundred that is not the account's;
held until the last page, it would leave every job slot idle for as long as the listing
takes (800 pages for 200,000 numbers: 8 s at 100 requests a second). So the numbers the
pages read so far list go out at once, and the rest wait here: each page that lists one
of them sends it on (back to the retry pool, to join the next batch), and when the
listing ends, read or failed, every number still waiting goes on too, to be screened or
bisected as usual.

The room holds at most ``capacity`` numbers: a submitter with more waits for space, so
the input is read no faster than the listing sorts it, and memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import anyio

from bulkupdate.input.dedupe import number_key


class WaitingRoom:
    """Numbers kept until the listing names them; ``release`` takes them on from here."""

    def __init__(self, capacity: int, release: Callable[[Sequence[str]], None]) -> None:
        self.capacity = capacity
        self._release = release
        self._waiting: dict[int, str] = {}
        self._changed = anyio.Event()
        self.open = False  # the listing has ended: nothing waits any more

    def __repr__(self) -> str:
        state = "open" if self.open else f"{len(self._waiting)}/{self.capacity}"
        return f"<WaitingRoom {state}>"

    def __len__(self) -> int:
        return len(self._waiting)

    async def enter(self, values: Sequence[str], listed: Callable[[str], bool]) -> None:
        """Keep ``values`` until the listing names them; those it has named already
        (``listed``) go on at once. Waits while the room is full (an empty room takes
        any number, so a batch larger than the room still gets in)."""
        while not self.open and self._waiting and len(self._waiting) + len(values) > self.capacity:
            changed = self._changed
            await changed.wait()
        if self.open:
            self._release(values)
            return
        known: list[str] = []
        for value in values:
            if listed(value):
                known.append(value)
            else:
                self._waiting[number_key(value)] = value
        if known:
            self._release(known)

    def listed(self, keys: Iterable[int]) -> None:
        """A page of the listing came in: the numbers it names that wait here go on."""
        waiting = self._waiting
        if not waiting:
            return
        found = [waiting.pop(key) for key in keys if key in waiting]
        if found:
            self._release(found)
            self._signal()

    def release_all(self) -> None:
        """The listing ended: every number still waiting goes on, and none waits again."""
        self.open = True
        found = list(self._waiting.values())
        self._waiting.clear()
        if found:
            self._release(found)
        self._signal()

    def _signal(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()
