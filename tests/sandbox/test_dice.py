"""Seeded fault decisions: the same inputs give the same answer, whatever the order."""

from __future__ import annotations

from bulkupdate.sandbox.dice import Dice


def test_same_seed_and_key_same_roll_in_any_order() -> None:
    keys = [("fail", f"+1312555{n:04d}", 1) for n in range(200)]
    forward = [Dice(3).roll(*key) for key in keys]
    one = Dice(3)
    backward = [one.roll(*key) for key in reversed(keys)]
    assert forward == backward[::-1]


def test_different_seeds_kinds_and_attempts_differ() -> None:
    dice = Dice(1)
    assert dice.roll("fail", "+13125550100", 1) != Dice(2).roll("fail", "+13125550100", 1)
    assert dice.roll("fail", "+13125550100", 1) != dice.roll("fail", "+13125550100", 2)
    assert dice.roll("fail", "+13125550100", 1) != dice.roll("stall", "+13125550100", 1)


def test_chance_extremes_and_rough_frequency() -> None:
    dice = Dice(0)
    assert not any(dice.chance(0.0, "x", i) for i in range(1000))
    assert all(dice.chance(1.0, "x", i) for i in range(1000))
    hits = sum(dice.chance(0.2, "x", i) for i in range(10_000))
    assert 1800 < hits < 2200


def test_pick_stays_in_range() -> None:
    dice = Dice(5)
    picks = {dice.pick(7, "p", i) for i in range(500)}
    assert picks == set(range(7))
