"""Sticky loadbalance choice: stable within a key's window, by weight across keys, no state."""

from __future__ import annotations

import itertools
from collections import Counter

from gateway.config.routing import Node
from gateway.routing.sticky import sticky_choice

A = Node(path="config.targets[0]", provider="openai", weight=3)
B = Node(path="config.targets[1]", provider="openai", weight=1)
HOUR = 3600


def test_a_key_keeps_its_target_for_a_whole_window_and_is_drawn_again_after() -> None:
    moved = 0
    for user in range(200):
        key = f'["u{user}"]'.encode()
        picks = [sticky_choice([A, B], key, HOUR, t) for t in range(0, 2 * HOUR, 60)]
        changes = sum(1 for before, after in itertools.pairwise(picks) if before is not after)
        assert changes <= 2  # two hours cross at most two of the key's window boundaries
        moved += changes > 0
    assert moved > 0  # some keys are drawn again, and land elsewhere


def test_keys_spread_over_targets_by_weight() -> None:
    picks = Counter(sticky_choice([A, B], f'["u{i}"]'.encode(), HOUR, 0.0).path for i in range(4000))
    assert 0.70 < picks[A.path] / 4000 < 0.80


def test_removing_a_target_moves_only_its_keys() -> None:
    c = Node(path="config.targets[2]", provider="openai", weight=1)
    keys = [f'["u{i}"]'.encode() for i in range(500)]
    before = {key: sticky_choice([A, B, c], key, HOUR, 0.0) for key in keys}
    after = {key: sticky_choice([A, B], key, HOUR, 0.0) for key in keys}
    assert all(after[key] is before[key] for key in keys if before[key] is not c)
