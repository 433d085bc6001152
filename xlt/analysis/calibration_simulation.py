"""How often the calibration rule (xlt/workflow/calibration.py `choose`) picks each radius, by simulation at
the study's settings: 3 seeds, the grid [0, 0.03, 0.1, 0.3, 1.0], English-dev run sd 0.5 points on the
calibration task (a quarter of MNLI), half of its variance shared by the runs of one seed (same data order
and head initialisation at every radius: what the pairing removes).

    python -m xlt.analysis.calibration_simulation [--studies 4000]

prints, per scenario (no English-dev effect at any radius; +0.5 or +1 point at radius 0.1 only; +0.5 at
every radius) and rule (best_nonzero; gated with fallback 0.1), the share of calibrations that train at
each radius and the share where an English-dev effect was shown (the chosen radius beats radius 0 by more
than its paired SE). The choices come from the project's own `choose`, so the table is the rule's."""
from __future__ import annotations

import argparse

import numpy as np

from xlt.workflow.calibration import choose

GRID = [0.0, 0.03, 0.1, 0.3, 1.0]
SCENARIOS = {"no effect": {}, "+0.5 at 0.1": {0.1: 0.5}, "+1 at 0.1": {0.1: 1.0},
             "+0.5 at every radius": {r: 0.5 for r in GRID if r > 0}}
RULES = {"best_nonzero": None, "gated (fallback 0.1)": 0.1}


def simulate(rng: np.random.Generator, effects: dict[float, float], rule: str, fallback: float | None,
             studies: int, seeds: int = 3, run_sd: float = 0.5, shared: float = 0.5) -> dict:
    """{chosen: {radius: share}, shown: share} over `studies` simulated calibrations."""
    chosen, shown = {r: 0 for r in [*GRID, *([fallback] if fallback else [])]}, 0
    for _ in range(studies):
        seed_part = rng.normal(0.0, run_sd * np.sqrt(shared), size=seeds)
        scores = {r: {101 + s: 80.0 + effects.get(r, 0.0) + seed_part[s] + rng.normal(0.0, run_sd * np.sqrt(1 - shared))
                      for s in range(seeds)} for r in GRID}
        got = choose(scores, rule, fallback)
        chosen[got["chosen"]] += 1
        shown += bool(got["effective"])
    return {"chosen": {r: n / studies for r, n in chosen.items()}, "shown": shown / studies}


def table(studies: int = 4000, seed: int = 0) -> str:
    """The markdown table docs/methods.md prints."""
    rng = np.random.default_rng(seed)
    head = "| scenario (English dev) | rule | " + " | ".join(f"trains at {r:g}" for r in GRID) + " | effect shown |"
    lines = [head, "|" + "---|" * (len(GRID) + 3)]
    for name, effects in SCENARIOS.items():
        for rule_name, fallback in RULES.items():
            rule = "gated" if fallback else "best_nonzero"
            got = simulate(rng, effects, rule, fallback, studies)
            cells = [f"{got['chosen'].get(r, 0.0):.0%}" for r in GRID]
            lines.append(f"| {name} | {rule_name} | " + " | ".join(cells) + f" | {got['shown']:.0%} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m xlt.analysis.calibration_simulation", description=__doc__.splitlines()[0])
    p.add_argument("--studies", type=int, default=4000)
    args = p.parse_args(argv)
    print(table(args.studies))


if __name__ == "__main__":
    main()
