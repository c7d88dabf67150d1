"""Time per character of every PII detector on pathological inputs at 1k, 10k and 100k characters.

``python -m bench.pii_linear`` prints, per detector, the worst input's time per character at each
size and the growth ratio of the total time (10 times the text should cost at most 15 times the
time). The inputs are the shapes that make backtracking patterns or token loops blow up: long runs
of one separator, of a cue word, of digits with gaps, of alternating classes.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "common" / "python"))

from callguard import pii

SIZES = (1_000, 10_000, 100_000)
GROWTH_GOAL = 15.0
#: unit strings repeated to the size; each is a shape some detector once handled badly
PATHOLOGICAL = {
    "digit-space": "1 ",
    "cue-then-spaces": "geb." + " " * 40,
    "capital-dash": "A-",
    "letters": "a",
    "at-signs": "a@",
    "dots-in-word": "a.",
    "spoken-digits": "null ",
    "spoken-pairs": "fünfundsechzig, ",
    "titles": "Herr ",
    "capitalised-words": "Max ",
    "street-words": "Straße ",
    "digits": "1",
    "digit-dash": "1-",
    "plus-space": "+ ",
    "digit-dot": "12.",
    "iban-like": "DE89 ",
    "mixed-case": "aB1 ",
    "email-spelled": "punkt at ",
    "zero-width": "1\u200b",
}


def _input(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def _time(run: Callable[[str], object], text: str) -> float:
    start = time.perf_counter()
    run(text)
    return time.perf_counter() - start


def detectors() -> dict[str, Callable[[str], object]]:
    """Each detector of ``callguard.pii`` on its own (``pii.DETECTORS``), and ``detect`` as a whole."""
    out: dict[str, Callable[[str], object]] = {}
    for name, run in getattr(pii, "DETECTORS", {}).items():
        out[name] = run
    out["detect (all)"] = lambda text: pii.detect(text, regions=("DE", "GB", "US"))
    return out


def linear_table(sizes: tuple[int, ...] = SIZES, budget_s: float = 60.0) -> tuple[str, float]:
    """The table and the worst growth ratio (10x text) seen. A size whose smaller run already took
    longer than ``budget_s`` / 100 is skipped (marked "skipped": quadratic behaviour, not worth a
    run of hours)."""
    head = "| detector | worst input | " + " | ".join(f"µs/char at {s // 1000}k" for s in sizes)
    head += " | " + " | ".join(f"time {b // 1000}k→{a // 1000}k" for a, b in zip(sizes[1:], sizes, strict=False))
    rows = [head + " |", "|---|---|" + "---:|" * (2 * len(sizes) - 1)]
    worst_growth = 0.0
    for name, run in detectors().items():
        times: dict[int, float] = {}
        worst_unit = ""
        skipped = False
        for size in sizes:
            if skipped:
                break
            slowest = 0.0
            for label, unit in PATHOLOGICAL.items():
                seconds = min(_time(run, _input(unit, size)) for _ in range(2 if size < 100_000 else 1))
                if seconds > slowest:
                    slowest, worst_unit = seconds, label if size == sizes[-1] or not worst_unit else worst_unit
                if seconds * 100 > budget_s:
                    skipped = True
            times[size] = slowest
        cells = [f"{times[s] / s * 1e6:.2f}" if s in times else "skipped" for s in sizes]
        ratios = []
        for small, large in itertools.pairwise(sizes):
            if small in times and large in times:
                ratio = times[large] / max(times[small], 1e-9)
                worst_growth = max(worst_growth, ratio)
                ratios.append(f"{ratio:.1f}x")
            else:
                ratios.append("skipped")
                worst_growth = float("inf")
        rows.append(f"| {name} | {worst_unit} | " + " | ".join(cells + ratios) + " |")
    return "\n".join(rows), worst_growth


if __name__ == "__main__":
    text, growth = linear_table()
    sys.stdout.write(text + f"\n\nworst growth for 10x the text: {growth:.1f}x (goal ≤ {GROWTH_GOAL:.0f}x)\n")
