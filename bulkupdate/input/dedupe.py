"""Remember which numbers a run has seen, in little memory.

A number is kept as one int instead of its string: ``+13127367254`` becomes
``13127367254`` and an id ``1583466971586889004`` becomes its bitwise complement (a
negative int), so numbers and ids never collide.

Most number lists are exports, sorted: each block of numbers read lies above every number
before it. Such numbers are appended to an array of 8-byte ints (8 bytes a number, 8 MB
for a million), and nothing need be looked up to know them new. Numbers that come out
of that order go into a ``set`` of ints instead: about 70 bytes a number (measured:
69.5 MB for one million) and a C-speed hash lookup (0.16 s a million), against about
100 bytes for the strings. A pure-Python open-addressing table in an ``array`` would
take 16 bytes a number for any order, but 4.5 s a million, more than the whole CPU
budget of a run.
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

    __slots__ = ("_ceiling", "_others", "_run")

    def __init__(self) -> None:
        # Keys that came in ascending order, each above every key before it: sorted.
        self._run = array("q")
        self._others: set[int] = set()  # the rest
        self._ceiling: int | None = None  # the highest key of either

    def add(self, value: str) -> bool:
        """Record ``value``; True if it was not seen before."""
        key = int(value[1:]) if value[0] == "+" else ~int(value)
        ceiling = self._ceiling
        if ceiling is None or key > ceiling:
            self._run.append(key)
            self._ceiling = key
            return True
        if key in self._others or _in_sorted(self._run, [key]):
            return False
        self._others.add(key)
        return True

    def add_new(self, numbers: list[str]) -> bool:
        """Record ``numbers`` (+E.164, distinct, none seen before) as a whole, in C, and
        say True; or record none of them and say False."""
        # int() reads the "+" as a sign: the same key.
        keys = list(map(int, numbers))
        if not keys:
            return True
        ceiling = self._ceiling
        if (ceiling is None or keys[0] > ceiling) and all(map(lt, keys, islice(keys, 1, None))):
            self._run.extend(keys)  # a sorted list's next block: new, and still sorted
            self._ceiling = keys[-1]
            return True
        # No set of the block is built: the keys are looked up, then added, and a count
        # tells a number twice in the block.
        others = self._others
        if not others.isdisjoint(keys) or _in_sorted(self._run, keys):
            return False
        before = len(others)
        others.update(keys)
        if len(others) - before != len(keys):
            others.difference_update(keys)  # one was there twice: none was seen before
            return False
        top = max(keys)
        self._ceiling = top if ceiling is None else max(ceiling, top)
        return True

    def __contains__(self, value: str) -> bool:
        key = number_key(value)
        return key in self._others or _in_sorted(self._run, [key])

    def __len__(self) -> int:
        return len(self._run) + len(self._others)

    def __repr__(self) -> str:
        return f"<SeenSet {len(self)} numbers>"


def _in_sorted(run: array[int], keys: list[int]) -> bool:
    """Whether any of ``keys`` is in the sorted ``run``: a binary search each, in C."""
    if not run:
        return False
    top = run[-1]
    below = [key for key in keys if key <= top]  # (a key above the top is not there)
    found = map(run.__getitem__, map(partial(bisect_left, run), below))
    return any(map(eq, found, below))
