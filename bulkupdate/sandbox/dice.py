"""Deterministic fault decisions: a seeded hash of stable inputs, not a shared RNG.

A shared ``random.Random`` consumed in arrival order would give two clients racing each other
different faults on every run. Instead each decision hashes (seed, kind, stable key) with
BLAKE2b and maps the digest to [0, 1): the same seed gives the same answer for the same
number and attempt, or the same request counter, whatever the interleaving.
"""

from __future__ import annotations

from hashlib import blake2b

_SCALE = float(1 << 64)


class Dice:
    """Seeded, order-independent decisions.

    >>> dice = Dice(seed=7)
    >>> dice.roll("fail", "+13125550100", 1) == Dice(seed=7).roll("fail", "+13125550100", 1)
    True
    """

    __slots__ = ("seed",)

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def roll(self, kind: str, *key: object) -> float:
        """A uniform number in [0, 1) fixed by the seed, the kind of decision and the key."""
        text = ":".join([str(self.seed), kind, *map(str, key)])
        digest = blake2b(text.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / _SCALE

    def chance(self, rate: float, kind: str, *key: object) -> bool:
        """True with probability ``rate``; never when ``rate`` is 0, always when it is 1."""
        return rate > 0.0 and self.roll(kind, *key) < rate

    def pick(self, size: int, kind: str, *key: object) -> int:
        """An index in ``range(size)``."""
        return min(size - 1, int(self.roll(kind, *key) * size))

    def __repr__(self) -> str:
        return f"Dice(seed={self.seed})"
