"""Remember which numbers a run has seen, in little memory.

A number's key is an int instead of its string: ``+13127367254`` becomes
``13127367254`` and an id ``1583466971586889004`` becomes its bitwise complement (a
negative int), so numbers and ids never collide.

Most number lists are exports, sorted: each block of numbers read lies above every
number before it, and is new without a lookup. Such a block is kept as its lines joined
(13 bytes a number), and only made keys, into an array of 8-byte ints, if a number out
of that order ever needs looking up in it: parsing a million ints costs 0.1 CPU s, which
a sorted list never pays. Numbers that come out of that order go into a ``set`` of keys
instead: about 70 bytes a number (measured: 69.5 MB for one million) and a C-speed hash
lookup (0.16 s a million), against about 100 bytes for the strings. A pure-Python
open-addressing table in an ``array`` would take 16 bytes a number for any order, but
4.5 s a million, more than the whole CPU budget of a run.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from functools import partial
from itertools import islice
from operator import eq, lt


def number_key(value: str) -> int:
    """The compact key of a +E.164 number or a numeric id."""
    if value[0] == "+":
        return int(value[1:])
    return ~int(value)


class SeenSet:
    """Numbers and ids seen so far; ``add`` tells whether a value is new."""

    __slots__ = ("_ceiling", "_others", "_run", "_unread")

    def __init__(self) -> None:
        # The run: blocks that came in ascending order, each above every key before it.
        # Its first part as keys, sorted; the rest as each block's numbers joined by "\n".
        self._run = array("q")
        self._unread: list[str] = []
        self._others: set[int] = set()  # the keys of everything else
        self._ceiling: int | None = None  # the highest key of all

    def add(self, value: str) -> bool:
        """Record ``value``; True if it was not seen before."""
        key = int(value[1:]) if value[0] == "+" else ~int(value)
        ceiling = self._ceiling
        if ceiling is not None and key <= ceiling:
            if key in self._others or self._in_run([key]):
                return False
        else:
            self._ceiling = key
        self._others.add(key)
        return True

    def add_new(self, numbers: list[str]) -> bool:
        """Record ``numbers`` (+E.164, distinct, none seen before) as a whole, in C, and
        say True; or record none of them and say False."""
        if not numbers:
            return True
        if self._extends_run(numbers):
            self._unread.append("\n".join(numbers))
            self._ceiling = int(numbers[-1])
            return True
        # int() reads the "+" as a sign: the same key. No set of the block is built: the
        # keys are looked up, then added, and a count tells a number twice in the block.
        keys = list(map(int, numbers))
        others = self._others
        if not others.isdisjoint(keys) or self._in_run(keys):
            return False
        before = len(others)
        others.update(keys)
        if len(others) - before != len(keys):
            others.difference_update(keys)  # one was there twice: none was seen before
            return False
        top, ceiling = max(keys), self._ceiling
        self._ceiling = top if ceiling is None else max(ceiling, top)
        return True

    def _extends_run(self, numbers: list[str]) -> bool:
        """Whether ``numbers`` ascend, each above every key so far: compared as strings
        of one length, which order as the numbers do, without making them ints."""
        first, ceiling = numbers[0], self._ceiling
        if ceiling is not None and int(first) <= ceiling:
            return False
        one_width = len(set(map(len, numbers))) == 1
        return one_width and all(map(lt, numbers, islice(numbers, 1, None)))

    def _in_run(self, keys: list[int]) -> bool:
        """Whether any of ``keys`` is in the run: a binary search each, in C."""
        run = self._run
        if self._unread:  # needed at last: make the rest of the run keys (it stays sorted)
            for block in self._unread:
                run.extend(map(int, block.split("\n")))
            self._unread.clear()
        if not run:
            return False
        top = run[-1]
        below = [key for key in keys if key <= top]  # (a key above the top is not there)
        found = map(run.__getitem__, map(partial(bisect_left, run), below))
        return any(map(eq, found, below))

    def __contains__(self, value: str) -> bool:
        key = number_key(value)
        return key in self._others or self._in_run([key])

    def __len__(self) -> int:
        unread = sum(block.count("\n") + 1 for block in self._unread)
        return len(self._run) + unread + len(self._others)

    def __repr__(self) -> str:
        return f"<SeenSet {len(self)} numbers>"
