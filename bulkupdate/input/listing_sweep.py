"""Reading a listing that the run itself shrinks, exactly: the backward sweep. No I/O.

``GET /phone_numbers`` pages by offset (``page[number]``, ``page[size]`` up to 250). A run
that selects the numbers on connection A and moves them to connection B shrinks that
listing while reading it: read front to back, every number updated before a page is read
moves the rest of the listing forward, and the next page skips as many numbers as were
updated. Re-reading, or guessing how far the listing moved, can be cheated by timing.

**Design.** Sort by ``phone_number`` and read from the back. Let F (``floor``) be the
smallest number taken so far. The run only ever updates numbers it has taken, all ≥ F,
so its own jobs never move a number below F: whatever they do, position i of the listing
holds the same number for every i < g, where g (``position``) is how many matching numbers
lie below F. Each page is chosen to hold position g (the first number ≥ F, or the end of
the listing) and as many positions below it as one page can: the page size s ≤ 250 with
the largest ``g mod s``, page number ⌊g/s⌋+1 (``window_holding``).

**The check.** A page read at time t shows positions [a, a+k) of the listing as it was at
t, in order (checked: strictly increasing, else ``OutOfOrder``). It is *accepted* when it
shows where F stands: it holds a number ≥ F, or it is short (k < s, so it reaches the end
of the listing). Then every number of the listing at t in [first, F) is on the page: the
page is contiguous and runs from its first number past every number below F. Those are
taken, F becomes the page's first number, and g = a; at a = 0 nothing below F is left
and the sweep is done. A full page of numbers all below F may have a gap above it
(somebody else added numbers below F, moving positions up): nothing is taken and the
page above it is read next. An empty page (the listing got shorter below F) is followed
by the page that holds the position before it.

**Exactness.** By induction over accepted pages, the intervals [F₁, ∞), [F₂, F₁), …,
(−∞, F_last) tile the order from the top down, and the page accepted for each interval
held every number in it that was in the listing when it was read, and only those were
taken. So no number is taken twice (the intervals are disjoint), and every number that
matches from the start of the sweep to its end is taken exactly once, whatever the jobs,
retries, lost answers and restarts did meanwhile: the run's own changes touch only
numbers ≥ F and cannot move it out of reach. Changes by others cost re-reads, never a
number (one that leaves the filter before its place is read is not selected; one that
joins behind the sweep is not either). Nothing relies on the listing's meta: its
``total_results`` only aims the first page, and a wrong or missing one costs a search
for the end of the listing (doubling, then halving), never a number.

**Cost.** One page to learn the size, then about 8% more pages than 250 a page would
need: a page must hold position g, so it takes ``g mod s`` new numbers (231 on average
for the best s ≤ 250; an exhaustive search over every choice does no better).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace

LARGEST_PAGE = 250
SORT = ("sort", "phone_number")


class OutOfOrder(ValueError):
    """A page that is not in strictly increasing phone-number order: the sweep cannot
    tell what lies between pages, so it cannot go on exactly."""


@dataclass(frozen=True, slots=True)
class Window:
    """One page of the listing: ``page[number]`` and ``page[size]``."""

    number: int
    size: int

    @property
    def start(self) -> int:
        """The listing position of the page's first number."""
        return (self.number - 1) * self.size

    def params(self) -> list[tuple[str, str]]:
        return [("page[number]", str(self.number)), ("page[size]", str(self.size)), SORT]


def window_holding(position: int, largest: int = LARGEST_PAGE) -> Window:
    """The page that holds ``position`` with the most positions below it (then the
    smallest such page)."""
    if position < largest:
        return Window(1, position + 1)
    size = max(range(1, largest + 1), key=lambda s: (position % s, -s))
    if position % size == 0:  # every size up to `largest` divides it: past 10**100 at 250
        raise ValueError(f"no page of at most {largest} holds position {position} and more")
    return Window(position // size + 1, size)


@dataclass(frozen=True, slots=True)
class SweepState:
    """How far a sweep has got; everything a restart needs to carry on."""

    floor: str | None = None  # F: every number taken is ≥ it; None before the first
    position: int | None = None  # g: the next page holds it; None before the first page
    done: bool = False
    total: int | None = None  # how many matched when the sweep began (the listing's meta)
    pages: int = 0  # pages read
    taken: int = 0  # numbers taken
    # While looking for the end of the listing (floor None, the first page full): it was
    # seen to hold at least `reach` numbers, and at most `beyond`.
    reach: int = 0
    beyond: int | None = None


@dataclass(slots=True)
class Sweep:
    """The backward sweep's state machine: ask it for a page, tell it what came back.

    >>> sweep = Sweep()
    >>> sweep.next_window()
    Window(number=1, size=250)
    >>> sweep.feed(Window(1, 250), ["+13125550100", "+13125550101"], total=2)
    ['+13125550100', '+13125550101']
    >>> sweep.state.done
    True
    """

    state: SweepState = SweepState()
    largest: int = LARGEST_PAGE

    def next_window(self) -> Window | None:
        """The page to read next; None once every matching number is taken."""
        state = self.state
        if state.done:
            return None
        if state.position is None:
            return Window(1, self.largest)  # the first page tells how many match
        return window_holding(state.position, self.largest)

    def feed(self, window: Window, numbers: Sequence[str], total: int | None = None) -> list[str]:
        """What ``window`` held (its numbers in order, and the listing's total if given);
        returns the numbers taken from it, in increasing order."""
        for earlier, later in itertools.pairwise(numbers):
            if not earlier < later:
                raise OutOfOrder(
                    f"{later} came after {earlier} in a listing sorted by phone number"
                )
        state = replace(self.state, pages=self.state.pages + 1)
        start, count, full = window.start, len(numbers), len(numbers) == window.size
        floor = state.floor
        below = count if floor is None else bisect.bisect_left(numbers, floor)
        taken: list[str] = []
        if state.position is None:  # the first page: aim at the end of the listing
            state = replace(state, total=total)
            if full:
                state = replace(state, reach=count, position=max(total or 0, count))
            else:
                taken = list(numbers)  # the whole listing
                state = replace(state, done=True)
        elif count and (below < count or not full):  # it shows where F stands: accepted
            taken = list(numbers[:below])
            state = replace(state, done=start == 0, position=start, reach=0, beyond=None)
        elif count == 0 and start == 0:  # nothing matches below F any more
            state = replace(state, done=True)
        elif floor is not None:  # somebody else moved numbers below F: up, or down, a little
            state = replace(state, position=start + window.size if count else start - 1)
        elif count:  # still looking for the end of the listing: it is further up
            reach, beyond = start + count, state.beyond
            if beyond is not None and beyond < reach:
                beyond = None  # the listing grew since
            aim = 2 * reach if beyond is None else (reach + beyond) // 2
            state = replace(state, reach=reach, beyond=beyond, position=aim)
        else:  # ... or further down
            reach = state.reach if state.reach <= start else 0  # or it shrank since
            state = replace(state, beyond=start, position=(reach + start) // 2)
        if taken:
            state = replace(state, floor=taken[0], taken=state.taken + len(taken))
        self.state = state
        return taken
