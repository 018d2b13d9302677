"""The one timer the small benchmarks share."""

from __future__ import annotations

import statistics
import time


def median_seconds(function, repeats: int) -> float:
    """Median wall time (s) of ``repeats`` calls of ``function()``."""
    times = []
    for _ in range(max(int(repeats), 1)):
        began = time.perf_counter()
        function()
        times.append(time.perf_counter() - began)
    return statistics.median(times)
