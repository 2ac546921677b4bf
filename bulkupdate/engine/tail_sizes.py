"""How big the last jobs should be, so that they end together. Pure: no I/O, no loop.

Once the input is exhausted, what is left (numbers not yet in a job, and retries) is
work for the job slots as they come free. Sent as 1000-number jobs it ends in a tail:
one slot runs a full job while the others stand idle, and then its retries follow. So
the work left is planned as a *water-filling*: spread over the slots in the order they
come free (a free slot now, a running job's slot at its estimated end) so that every
slot would finish at the same moment, and each job that starts takes its share of it.

Spreading costs requests: each job is a POST and a look at it, so the ``i``-th job of
the plan starts no sooner than ``2 i / rate`` seconds from now, however many slots are
free. Filled that
way, a run limited by its request rate sends full jobs until little is left, and one
limited by its job slots shares the rest out as the slots come free.

The plan is made afresh each time a job starts: retries of the tail's own jobs join
what is left as they come back, and the slots' ends are read anew.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def tail_share(
    remaining: int,
    now: float,
    free_at: Sequence[float],
    *,
    seconds_per_number: float | None,
    rate: float,
    max_batch: int,
) -> int:
    """How many of ``remaining`` numbers the job starting ``now`` should carry.

    ``free_at``: when each other job slot is free (``now`` for a free one, the estimated
    end for one a running job holds). Planned afresh at every call: what is left and the
    slots' ends are read anew each time a job starts, so the plan follows the run.

    Twenty free slots, 4000 numbers of 5 ms, 50 requests a second: jobs that start
    together end together, each later start a little smaller::

        >>> left, shares = 4000, []
        >>> for n in range(3):
        ...     shares.append(tail_share(left, n * 0.04, [n * 0.04] * 19,
        ...                              seconds_per_number=0.005, rate=50, max_batch=1000))
        ...     left -= shares[-1]
        >>> shares
        [276, 263, 250]
    """
    if remaining <= 0:
        return 0
    if seconds_per_number is None or seconds_per_number <= 0 or rate <= 0:
        return min(remaining, max_batch)
    end = planned_end(
        remaining, now, free_at, seconds_per_number=seconds_per_number, rate=rate,
        max_batch=max_batch,
    )  # fmt: skip
    share = math.ceil((end - now) / seconds_per_number - 1e-9)
    return max(1, min(remaining, max_batch, share))


def planned_end(
    remaining: int,
    now: float,
    free_at: Sequence[float],
    *,
    seconds_per_number: float,
    rate: float,
    max_batch: int,
) -> float:
    """When ``remaining`` numbers would all be done, spread by water-filling over the slot
    free ``now`` and the others as they come free (``free_at``).

    Each job costs two more requests (its POST, and a look at it): the ``i``-th can start
    no sooner than ``2 i / rate`` seconds from now, however many slots are free, and
    carries at most ``max_batch``.

    >>> end = planned_end(4000, 0.0, [0.0] * 19, seconds_per_number=0.005, rate=1e9,
    ...                   max_batch=1000)
    >>> round(end, 3)  # twenty slots share 20 s of work
    1.0
    >>> end = planned_end(24_000, 0.0, [0.0] * 19, seconds_per_number=0.0005, rate=10,
    ...                   max_batch=1000)
    >>> round(end, 2)  # at 10 requests a second, 20 full jobs: the last starts at 3.8 s
    4.3
    """
    work = remaining * seconds_per_number
    # Each job costs two requests on the way to the end: its POST and a look at it. A job
    # shorter than those two requests' time is not worth splitting off.
    worth = max(math.ceil(remaining / max_batch), math.floor(work * rate / 2), 1)
    slots = sorted(max(now, at) for at in free_at)[: worth - 1]
    starts = [max(free, now + 2 * order / rate) for order, free in enumerate([now, *slots])]
    most = max_batch * seconds_per_number  # the longest a job may run
    if sum(most for _ in starts) <= work:
        return max(starts) + most
    low, high = now, max(starts) + most
    for _ in range(60):  # bisection on the water level
        level = (low + high) / 2
        if sum(min(most, max(0.0, level - start)) for start in starts) < work:
            low = level
        else:
            high = level
    return high
