"""Group-sequential looks: Lan-DeMets alpha spending over the declared waves of seeds.

A study declared in waves (study.waves) is analysed after each wave; look k has information fraction
t_k = seeds so far / max seeds. A spending function alpha(t) says how much of the two-sided alpha may be
spent by t (Lan & DeMets 1983):
  O'Brien-Fleming type ("obf"):  alpha(t) = 2 - 2 Phi(z_{1 - alpha/2} / sqrt(t))
  Pocock type ("pocock"):        alpha(t) = alpha ln(1 + (e - 1) t)
The boundary c_k of look k solves, look by look,
  P(|Z_1| < c_1, ..., |Z_{k-1}| < c_{k-1}, |Z_k| >= c_k) = alpha(t_k) - alpha(t_{k-1})
for the looks' z statistics, jointly normal with corr(Z_i, Z_j) = sqrt(t_i / t_j) (i <= j): the
canonical joint distribution of a statistic with independent increments (a mean over growing seeds). The
nominal level of look k is 2 (1 - Phi(c_k)); a test at look k is made at that level. The report's tests
are t tests whose se and df are estimated anew at each look (and their item part does not grow with
seeds), so the levels are an approximation for them; tests/test_sequential.py measures the family-wise
error across looks that results."""
from __future__ import annotations

import numpy as np
from scipy import stats as st
from scipy.optimize import brentq

SPENDING = ("obf", "pocock")


def spent(t, alpha: float, kind: str = "obf") -> np.ndarray:
    """Cumulative two-sided alpha spent by information fraction t (0 < t <= 1)."""
    t = np.asarray(t, dtype=float)
    if kind == "obf":
        return 2 - 2 * st.norm.cdf(st.norm.ppf(1 - alpha / 2) / np.sqrt(t))
    if kind == "pocock":
        return alpha * np.log(1 + (np.e - 1) * t)
    raise ValueError(f"spending {kind!r}: use one of {', '.join(SPENDING)}")


def _continue_probability(bounds: list[float], corr: np.ndarray) -> float:
    """P(|Z_i| < bounds_i for every look i) under the null."""
    k = len(bounds)
    if k == 1:
        return float(2 * st.norm.cdf(bounds[0]) - 1)
    b = np.asarray(bounds)
    # Genz's quasi-Monte Carlo integration (scipy), seeded: the same levels on every call
    return float(st.multivariate_normal.cdf(b, mean=np.zeros(k), cov=corr[:k, :k], lower_limit=-b, abseps=1e-8,
                                            releps=1e-6, maxpts=50_000 * k, rng=np.random.default_rng(0)))


def boundaries(fractions, alpha: float = 0.05, kind: str = "obf") -> np.ndarray:
    """Two-sided z boundaries c_k of the looks at increasing information fractions (the last is 1)."""
    t = np.asarray(fractions, dtype=float)
    if t.ndim != 1 or len(t) == 0 or np.any(np.diff(t) <= 0) or t[0] <= 0 or not np.isclose(t[-1], 1.0):
        raise ValueError(f"information fractions must increase from above 0 to 1, got {list(t)}")
    corr = np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))
    cumulative = spent(t, alpha, kind)
    bounds: list[float] = []
    for k in range(len(t)):
        before = _continue_probability(bounds, corr) if bounds else 1.0
        target = cumulative[k] - (cumulative[k - 1] if k else 0.0)  # alpha to spend at this look

        def excess(c):  # P(stop first at look k with boundary c) - target
            return before - _continue_probability([*bounds, c], corr) - target

        bounds.append(brentq(excess, 0.5, 12.0, xtol=1e-7))
    return np.array(bounds)


def nominal_levels(fractions, alpha: float = 0.05, kind: str = "obf") -> np.ndarray:
    """Two-sided nominal level of each look: the p-value below which a test at that look rejects."""
    return 2 * st.norm.sf(boundaries(fractions, alpha, kind))


def wave_fractions(waves: list[list[int]]) -> np.ndarray:
    """Information fraction of the look after each wave: seeds so far / max seeds."""
    sizes = np.cumsum([len(w) for w in waves])
    return sizes / sizes[-1]


def look_levels(waves: list[list[int]], alpha: float = 0.05, kind: str = "obf") -> list[float]:
    """Nominal level of the look after each wave (one wave: alpha itself, the fixed design)."""
    if len(waves) <= 1:
        return [float(alpha)]
    return [float(a) for a in nominal_levels(wave_fractions(waves), alpha, kind)]


TEST_KEYS = ["family", "model", "target", "language", "intermediate", "variant"]


def family_decisions(comps) -> list[dict]:
    """Per confirmatory family and model (the unit Holm runs over) of a comparisons frame analysed at a
    look's level: decided when every test has a verdict (improves / harms, equivalent, or not tested: no
    seed can test an arm that never perturbed), with the
    tests' verdicts and numbers."""
    conf = comps[comps["family"] != "exploratory"]
    out = []
    for (family, model), rows in conf.groupby(["family", "model"], sort=True):
        tests = [{**{k: r[k] for k in TEST_KEYS}, "verdict": r["verdict"],
                  **{k: float(r[k]) for k in ("delta", "ci_low", "ci_high", "p_adj", "p_tost_adj")}}
                 for r in rows.to_dict("records")]
        out.append({"family": family, "model": model, "tests": tests,
                    "decided": all(t["verdict"] != "inconclusive" for t in tests)})
    return out


def look_record(comps, wave: int, waves: list[list[int]], levels: list[float], spending: str) -> dict:
    """The interim decision after `wave`: each family decided or not; `continue` while one is not."""
    families = family_decisions(comps)
    return {"wave": wave, "looks": len(waves), "seeds": sum(len(w) for w in waves[:wave]),
            "max_seeds": sum(len(w) for w in waves), "spending": spending, "level": levels[wave - 1],
            "levels": levels, "families": families, "continue": any(not f["decided"] for f in families)}


def final_look(looks: list[dict], n_waves: int) -> int:
    """The look the study ended at: the first interim that decided every family, else the last wave."""
    return next((rec["wave"] for rec in sorted(looks, key=lambda r: r["wave"]) if not rec["continue"]), n_waves)


def apply_looks(comps, looks: list[dict], end: int, levels: list[float]):
    """The final comparisons with each confirmatory family's sequential answer: a family decided at an
    earlier look keeps that look's verdicts (its later runs are reported, not re-tested); the others get
    the verdicts of look `end`, made at its level. Adds `look` and `level` to the confirmatory rows."""
    comps = comps.copy()
    comps["look"], comps["level"] = np.nan, np.nan
    conf = comps["family"] != "exploratory"
    comps.loc[conf, "look"], comps.loc[conf, "level"] = end, levels[end - 1]
    earlier = {}
    for rec in sorted(looks, key=lambda r: r["wave"]):
        for fam in rec["families"]:
            key = (fam["family"], fam["model"])
            if rec["wave"] < end and fam["decided"] and key not in earlier:
                earlier[key] = (rec["wave"], {tuple(t[k] for k in TEST_KEYS): t["verdict"] for t in fam["tests"]})
    keys = comps[TEST_KEYS].astype(str).itertuples(index=False, name=None)
    for i, key in zip(comps.index, keys):
        found = earlier.get(key[:2]) if conf[i] else None
        if found and key in {tuple(map(str, k)) for k in found[1]}:
            verdicts = {tuple(map(str, k)): v for k, v in found[1].items()}
            comps.loc[i, ["verdict", "look", "level"]] = [verdicts[key], found[0], levels[found[0] - 1]]
    return comps
