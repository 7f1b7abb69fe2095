"""SplitMix64: the one random source both allocators draw from.

It is specified here in a few lines so that the Rust core draws exactly the
same numbers from the same seed (`rust/rng.rs`); the reference allocator and
the Rust allocator then shuffle agents and order clients identically.
"""

from collections.abc import Sequence
from typing import TypeVar

_MASK = (1 << 64) - 1
_T = TypeVar("_T")


class SplitMix64:
    def __init__(self, seed: int) -> None:
        self.state = seed & _MASK

    def next_u64(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & _MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    def next_f64(self) -> float:
        """Uniform in [0, 1) with 53 random bits."""
        return (self.next_u64() >> 11) * (1.0 / 9007199254740992.0)

    def below(self, n: int) -> int:
        """A number in [0, n); the modulo bias is irrelevant at these sizes."""
        return self.next_u64() % n

    def shuffle(self, items: list[_T]) -> None:
        """Fisher-Yates from the back, in place."""
        for i in range(len(items) - 1, 0, -1):
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]

    def weighted_order(self, items: Sequence[_T], weights: Sequence[float]) -> list[_T]:
        """A random order where each next item is drawn with probability
        proportional to its weight among those left (sums left to right)."""
        remaining = list(range(len(items)))
        order: list[_T] = []
        while remaining:
            total = 0.0
            for i in remaining:
                total += weights[i]
            point = self.next_f64() * total
            chosen = len(remaining) - 1
            cumulative = 0.0
            for position, i in enumerate(remaining):
                cumulative += weights[i]
                if point < cumulative:
                    chosen = position
                    break
            order.append(items[remaining.pop(chosen)])
        return order
