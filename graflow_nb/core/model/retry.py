"""graflow's ``RetryPolicy``: how many extra attempts a task gets and how long to wait."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` counts *extra* attempts: 2 means up to 3 calls in all."""

    max_retries: int = 0
    initial_interval: float = 1.0
    backoff_factor: float = 2.0
    max_interval: float = 60.0
    jitter: bool = False

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.initial_interval < 0 or self.max_interval < 0:
            raise ValueError("retry intervals must be >= 0")

    def get_delay(self, retry_count: int) -> float:
        """Seconds to wait before retry number ``retry_count`` (1-based)."""
        delay = min(self.initial_interval * self.backoff_factor ** max(retry_count - 1, 0), self.max_interval)
        if self.jitter and delay > 0:
            delay = random.uniform(0, delay)
        return delay
