"""One line per goal of issue 16, the same in every benchmark script, so ``benchmarks/run_all.py``
can collect them into one table:

    GOAL | <name> | <measured> | <target> | met / NOT met

Every ratio is measured in the same run as its floor or reference.
"""

from __future__ import annotations

import os

V2_REFERENCE = {
    "stage 1, 10k models, no images": "v2 code 32.9 s (304 models/s)",
    "stage 1 with images, 1 worker": "v2 code 459 ms/image",
    "stage 2, small files": "v2 code 351 models/s",
}
"""The v2 app's own migration code, measured side by side when issue 16 was filed."""


def goal(name: str, measured: float, target: float, unit: str, *, at_least: bool) -> bool:
    """Print the goal's line; whether it is met."""
    met = measured >= target if at_least else measured <= target
    sign = "≥" if at_least else "≤"
    print(
        f"GOAL | {name} | {measured:,.2f} {unit} | {sign} {target:,.2f} {unit} | "
        f"{'met' if met else 'NOT met'}"
    )
    return met


def machine() -> str:
    """CPUs and load, printed with every run (a loaded machine skews every figure)."""
    one, five, _ = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load average {one:.2f} (1 min), {five:.2f} (5 min)"
