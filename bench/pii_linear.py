"""Time per character of every PII detector on pathological inputs at 1k, 10k and 100k characters.

``python -m bench.pii_linear`` prints, per detector, the worst input's time per character at each
size and the growth ratio of the total time (10 times the text should cost at most 15 times the
time). The inputs are the shapes that make backtracking patterns or token loops blow up: long runs
of one separator, of a cue word, of digits with gaps, of alternating classes.
"""

from __future__ import annotations

import gc
import itertools
import sys
import time
from collections.abc import Callable
from pathlib import Path

from callguard.analysis import pii

ROOT = Path(__file__).resolve().parents[1]

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


#: a timed sample lasts at least this long (short inputs run several times per sample, as ``timeit``'s
#: ``autorange`` does): a 1k-character input takes a fraction of a millisecond, where the clock's and
#: the caches' noise would otherwise decide the growth ratio
MIN_SAMPLE_SECONDS = 0.02


def _times(run: Callable[[str], object], texts: dict[int, str], repeats: int) -> dict[int, float]:
    """CPU time of one run on each text (by size): the least over ``repeats`` samples of a sample's time
    over its runs. Process time, so the other work on a shared machine does not count; the least, so
    a pause in between does not either; and the sizes take their samples in turn, so a slow stretch of
    the machine (it lasted whole seconds on a shared host) weighs on every size alike instead of on
    the one that happened to be timed then. The garbage collector is off while a sample is timed (as
    ``timeit`` does): a collection of the whole process's objects falling into one sample says nothing
    of how the detector grows with the text."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        numbers, best = {}, {}
        for size, text in texts.items():  # calibrate: enough runs per sample to last MIN_SAMPLE_SECONDS
            number = 1
            while True:
                took = _sample(run, text, number)
                if took * number >= MIN_SAMPLE_SECONDS:
                    break
                number *= 2 if took <= 0 else max(2, min(10, int(MIN_SAMPLE_SECONDS / (took * number)) + 1))
            numbers[size], best[size] = number, took
        for _ in range(repeats - 1):
            for size, text in texts.items():
                best[size] = min(best[size], _sample(run, text, numbers[size]))
    finally:
        if collecting:
            gc.enable()
    return best


def _sample(run: Callable[[str], object], text: str, number: int) -> float:
    """CPU time per run over ``number`` runs."""
    start = time.process_time()
    for _ in range(number):
        run(text)
    return (time.process_time() - start) / number


def detectors() -> dict[str, Callable[[str], object]]:
    """Each detector of ``callguard.analysis.pii`` on its own (``pii.DETECTORS``), and ``detect`` as a whole."""
    out: dict[str, Callable[[str], object]] = {}
    for name, run in getattr(pii, "DETECTORS", {}).items():
        out[name] = run
    out["detect (all)"] = lambda text: pii.detect(text, regions=("DE", "GB", "US"))
    return out


def linear_table(sizes: tuple[int, ...] = SIZES, keep: int = 3) -> tuple[str, float]:
    """The table and the worst growth ratio (10 times the text) seen. Every input runs at the
    smaller sizes; the ``keep`` slowest of them at the next size go on to the largest one."""
    if len(sizes) < 2:
        raise ValueError("growth needs at least two sizes")
    head = "| detector | worst input | " + " | ".join(f"µs/char at {s // 1000}k" for s in sizes)
    head += " | " + " | ".join(f"time {a // 1000}k→{b // 1000}k" for a, b in itertools.pairwise(sizes))
    rows = [head + " |", "|---|---|" + "---:|" * (2 * len(sizes) - 1)]
    worst_growth = 0.0
    for name, run in detectors().items():
        units = dict(PATHOLOGICAL)
        # every input at the smaller sizes, their samples in turn
        times = {label: _times(run, {s: _input(unit, s) for s in sizes[:-1]}, 5) for label, unit in units.items()}
        # the slowest at the next-to-largest size, again, beside the largest
        slowest = sorted(units, key=lambda label: -times[label][sizes[-2]])[:keep]
        units = {label: units[label] for label in slowest}
        large = {label: _times(run, {s: _input(units[label], s) for s in sizes[-2:]}, 2) for label in units}
        ratios = {
            label: [times[label][b] / max(times[label][a], 1e-9) for a, b in itertools.pairwise(sizes[:-1])]
            + [large[label][sizes[-1]] / max(large[label][sizes[-2]], 1e-9)]
            for label in units
        }
        for label in units:
            times[label][sizes[-1]] = large[label][sizes[-1]]
        worst = max(units, key=lambda label: times[label][sizes[-1]])
        growth = max(r for label in units for r in ratios[label])
        worst_growth = max(worst_growth, growth)
        cells = [f"{times[worst][s] / s * 1e6:.2f}" for s in sizes] + [f"{r:.1f}x" for r in ratios[worst]]
        rows.append(f"| {name} | {worst} | " + " | ".join(cells) + " |")
    return "\n".join(rows), worst_growth


if __name__ == "__main__":
    text, growth = linear_table()
    sys.stdout.write(text + f"\n\nworst growth for 10x the text: {growth:.1f}x (goal ≤ {GROWTH_GOAL:.0f}x)\n")
