"""Statistics for the metacognition study: AUROC, its uncertainty, and tests between signals.

Conventions: `y` is 1 for the positive class (OOD) and 0 for the negative class (in-domain);
scores are already oriented so that higher means "more OOD" (see `regimes.py`). NaN scores
(router signals of a model without a router) give NaN results instead of an error, so a
vanilla model flows through the same tables.

Why these tools, with the study's numbers (reference/NOTES.md):
- n = 30 in-domain prompts is the bottleneck: at AUROC 0.8 the 95% CI half-width is ~0.11 for
  30 vs 30 and ~0.10 for 30 vs 180. So every AUROC carries a stratified bootstrap CI (the class
  sizes stay fixed, 2,000 resamples by default; the published kit used 1,000).
- Two signals scored on the same prompts are correlated; an unpaired comparison would need a
  gap of ~0.23 at n = 30. The paired bootstrap of the difference (the pre-registered win rule)
  and the paired DeLong test both use the pairing. DeLong uses the midrank formulation
  (Sun & Xu 2014): O(n log n), exact agreement with the O(n^2) definition.
- 28 comparisons per model and reference (4 candidate signals x 7 contrasts) -> Holm step-down.
- Seeds of one variant (each a whole replication, trained from scratch): the group's AUROC (or
  rate) is the mean over seeds. Its CI covers BOTH the seeds' training variance and the prompt
  sampling, by one estimator for every pooled quantity (`_seed_parts` + `_corrected`, used by
  `pooled`, `pool` and `pooled_rate`): a cluster bootstrap with small-sample correction. Replicate r resamples the
  prompts (one resample shared by all seeds: they were probed on the same prompts) and the seeds
  with replacement; the seed part of the replicate (seed-resampled mean minus all-seed mean) is
  scaled by c = sqrt(n / (n - 1)) t_{n-1} / z, which makes its variance the unbiased one and its
  tails those of a t with n - 1 df (resampling 5 seeds alone has variance 4/5 of the unbiased one
  and normal tails: the percentile interval undercovers). A per-model interval (one seed) covers
  the prompts only, exactly the stratified bootstrap. The p of a seed-pooled comparison inverts
  the same interval (`_inverted_p`), so p <= alpha exactly when the CI at level 1 - alpha excludes
  0, at every level; one seed keeps the paired DeLong test. Intervals are clipped to the
  quantity's range ([0, 1]; [-1, 1] for a difference).
- Seeds: Welch's t-test (unequal variances) with Cohen's d / Hedges' g; with 3 seeds per arm
  only gaps of ~3.5 standard deviations are detectable, so the effect size is always reported.
  "No difference" is shown by equivalence (TOST, two one-sided Welch tests against a stated
  margin), never by p >= 0.05. Two arms paired by seed (same seed, same start) use the paired
  t-test on the per-seed differences, whose two-sided interval and p agree by construction.
- Abstention: risk-coverage curve and AURC (Geifman & El-Yaniv) so "always abstain" cannot look
  good; the random-order AURC equals the base error rate.

Bootstrap trick: with the pair matrix M[i, j] = 1[s_pos_i > s_neg_j] + 0.5 * 1[s_pos_i == s_neg_j],
a resample with multiplicity counts c_pos, c_neg has AUROC = c_pos @ M @ c_neg / (n_pos * n_neg).
All resamples are one matrix product (30 x 180 pairs x 2,000 resamples: a few ms), exact with ties,
and linear in M: a paired difference or a mean over seeds is a difference or mean of replicates
(`Draws`), so the report scores each (model, signal, contrast) once and combines.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

from tilelli.io import TilelliError


# ---------------------------------------------------------------------------------------------
# AUROC and ROC
# ---------------------------------------------------------------------------------------------
def _split(y, s) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y)
    s = np.asarray(s, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise TilelliError(f"labels {y.shape} and scores {s.shape} must be 1-D of equal length")
    if not np.isin(y, (0, 1)).all():
        raise TilelliError("labels must be 0 (in-domain) or 1 (OOD)")
    pos, neg = s[y == 1], s[y == 0]
    if len(pos) == 0 or len(neg) == 0:
        raise TilelliError(f"AUROC needs both classes (got {len(pos)} positive, {len(neg)} negative)")
    return pos, neg


def auroc(y, s) -> float:
    """Area under the ROC curve = Mann-Whitney U / (n_pos n_neg), ties counted 1/2 (midranks)."""
    pos, neg = _split(y, s)
    if np.isnan(pos).any() or np.isnan(neg).any():
        return math.nan
    ranks = _st.rankdata(np.concatenate([pos, neg]))
    u = ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2.0
    return float(u / (len(pos) * len(neg)))


def roc_points(y, s) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) at every distinct score, from (0, 0) at threshold +inf to (1, 1).

    A point means "flag as OOD when score >= threshold". Same points as
    sklearn.metrics.roc_curve(..., drop_intermediate=False).
    """
    pos, neg = _split(y, s)
    y = np.asarray(y)
    s = np.asarray(s, dtype=np.float64)
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last_of_run = np.r_[np.nonzero(np.diff(s_sorted))[0], len(s_sorted) - 1]
    tps = np.cumsum(y_sorted)[last_of_run]
    fps = (last_of_run + 1) - tps
    fpr = np.r_[0.0, fps / len(neg)]
    tpr = np.r_[0.0, tps / len(pos)]
    thr = np.r_[np.inf, s_sorted[last_of_run]]
    return fpr, tpr, thr


# ---------------------------------------------------------------------------------------------
# Stratified bootstrap
# ---------------------------------------------------------------------------------------------
def _pair_matrix(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    return (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])


@functools.lru_cache(maxsize=64)
def _stratified_counts(n_pos: int, n_neg: int, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Multiplicities [n_boot, n] of each item in resamples drawn with replacement within each class.

    Cached: every signal of one contrast sees the SAME resamples (paired, and ~0.1 ms instead of
    re-drawing). The arrays are read-only.
    """
    rng = np.random.default_rng(seed)
    out = []
    for n in (n_pos, n_neg):
        idx = rng.integers(0, n, size=(n_boot, n)) + n * np.arange(n_boot)[:, None]
        counts = np.bincount(idx.ravel(), minlength=n_boot * n).reshape(n_boot, n).astype(np.float64)
        counts.setflags(write=False)
        out.append(counts)
    return out[0], out[1]


def _boot_aurocs(mats: list[np.ndarray], n_boot: int, seed: int) -> list[np.ndarray]:
    """Bootstrap AUROCs for several pair matrices under the SAME resamples (pairing)."""
    n_pos, n_neg = mats[0].shape
    cp, cn = _stratified_counts(n_pos, n_neg, n_boot, seed)
    return [np.einsum("bi,bi->b", cp @ m, cn) / (n_pos * n_neg) for m in mats]


def percentile_ci(values: np.ndarray, ci: float) -> tuple[float, float]:
    """Percentile interval of bootstrap replicates; NaN if any replicate is NaN."""
    values = np.asarray(values, dtype=np.float64)
    if np.isnan(values).any():
        return math.nan, math.nan
    lo, hi = np.quantile(values, [(1 - ci) / 2, 1 - (1 - ci) / 2])
    return float(lo), float(hi)


def bootstrap_auroc_ci(y, s, n_boot: int = 2000, ci: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile CI of the AUROC; each class is resampled within itself (sizes fixed)."""
    return percentile_ci(draws(y, s, n_boot, seed).boot, ci)


def bootstrap_auroc_diff(y, s_a, s_b, n_boot: int = 2000, ci: float = 0.95,
                         seed: int = 0) -> tuple[float, float, float]:
    """(AUROC(a) - AUROC(b), lo, hi): paired, both signals scored on the same resampled prompts."""
    r = pooled([draws(y, s_a, n_boot, seed)], [draws(y, s_b, n_boot, seed)], ci, seed)
    return r["estimate"], r["lo"], r["hi"]


# ---------------------------------------------------------------------------------------------
# Paired DeLong
# ---------------------------------------------------------------------------------------------
def _delong_components(pos: np.ndarray, neg: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUROC and DeLong's structural components via midranks.

    v10[i] = P(score of negative < pos_i) (+1/2 ties) for each positive;
    v01[j] = P(score of positive > neg_j) (+1/2 ties) for each negative.
    """
    m, n = len(pos), len(neg)
    tz = _st.rankdata(np.concatenate([pos, neg]))
    tx, ty = _st.rankdata(pos), _st.rankdata(neg)
    v10 = (tz[:m] - tx) / n
    v01 = 1.0 - (tz[m:] - ty) / m
    u = tz[:m].sum() - m * (m + 1) / 2.0  # the same float operations as auroc(): identical value
    return float(u / (m * n)), v10, v01


def _delong_z(delta: float, d10: np.ndarray, d01: np.ndarray) -> tuple[float, float, float]:
    """(se, z, p) of a difference of AUROCs whose structural components differ by d10, d01.

    DeLong's variance of AUROC(a) - AUROC(b) is var(v10a - v10b) / n_pos + var(v01a - v01b) / n_neg;
    the components are linear in the scores' pair kernels, so the same formula holds for a mean
    over seeds of such differences (d10 = mean over seeds of v10a_s - v10b_s).
    """
    if len(d10) < 2 or len(d01) < 2:
        raise TilelliError("DeLong needs at least 2 prompts per class")
    var = float(np.var(d10, ddof=1) / len(d10) + np.var(d01, ddof=1) / len(d01))
    if var <= 1e-15:  # numerically identical rankings: no evidence of a difference
        z, p = (0.0, 1.0) if abs(delta) < 1e-12 else (math.copysign(math.inf, delta), 0.0)
    else:
        z = delta / math.sqrt(var)
        p = float(2 * _st.norm.sf(abs(z)))
    return math.sqrt(max(var, 0.0)), float(z), p


def delong_paired(y, s_a, s_b) -> dict:
    """Paired DeLong test of H0: AUROC(a) == AUROC(b) for two signals on the same prompts.

    Returns {auroc_a, auroc_b, delta, se, z, p}. Identical signals give z = 0, p = 1.
    """
    pos_a, neg_a = _split(y, s_a)
    pos_b, neg_b = _split(y, s_b)
    if any(np.isnan(v).any() for v in (pos_a, neg_a, pos_b, neg_b)):
        return {k: math.nan for k in ("auroc_a", "auroc_b", "delta", "se", "z", "p")}
    auc_a, v10a, v01a = _delong_components(pos_a, neg_a)
    auc_b, v10b, v01b = _delong_components(pos_b, neg_b)
    se, z, p = _delong_z(auc_a - auc_b, v10a - v10b, v01a - v01b)
    return {"auroc_a": auc_a, "auroc_b": auc_b, "delta": auc_a - auc_b, "se": se, "z": z, "p": p}


# ---------------------------------------------------------------------------------------------
# Scored once, combined freely: one signal's draws, pooled over seeds
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Draws:
    """One score vector on fixed labels: its AUROC, bootstrap replicates and DeLong components.

    Every statistic of the report is a linear combination of these, so each (model, signal,
    contrast) is scored once: the replicate AUROC c_pos @ M @ c_neg is linear in the pair matrix M,
    so a paired difference's replicates are boot_a - boot_b (the same resamples) and a mean over
    seeds is the mean of the replicates; DeLong's components are linear the same way. All Draws
    made with the same (n_pos, n_neg, n_boot, seed) share the prompt resamples, replicate by
    replicate, provided the rows are in the same order (the report aligns every model by id).
    """
    auroc: float
    boot: np.ndarray  # [n_boot] replicate AUROCs
    v10: np.ndarray   # [n_pos] DeLong components
    v01: np.ndarray   # [n_neg]
    n_seeds: int = 1  # > 1: a seed-pooled Draws (`pool`): `boot` is then the prompt part P of its
    dev: np.ndarray | None = None  # replicates and `dev` the seed part S - P (`_seed_parts`), uncorrected

    @property
    def n_pos(self) -> int:
        return len(self.v10)

    @property
    def n_neg(self) -> int:
        return len(self.v01)


def reversed_draws(d: Draws) -> Draws:
    """The Draws of the same scores negated: AUROC 1 - a, replicates 1 - boot, DeLong components
    1 - v (ties stay 1/2), exactly what `draws` gives on -s. A model's Draws only (n_seeds 1)."""
    if d.n_seeds != 1:
        raise TilelliError("reversed_draws: reverse each seed's scores before pooling")
    return Draws(1.0 - d.auroc, 1.0 - d.boot, 1.0 - d.v10, 1.0 - d.v01)


def draws(y, s, n_boot: int = 2000, seed: int = 0) -> Draws:
    """Score one signal: AUROC, stratified bootstrap replicates, DeLong components (NaN scores -> NaN)."""
    pos, neg = _split(y, s)
    if np.isnan(pos).any() or np.isnan(neg).any():
        return Draws(math.nan, np.full(n_boot, np.nan), np.full(len(pos), np.nan), np.full(len(neg), np.nan))
    (boot,) = _boot_aurocs([_pair_matrix(pos, neg)], n_boot, seed)
    auc, v10, v01 = _delong_components(pos, neg)
    return Draws(auc, boot, v10, v01)


@functools.lru_cache(maxsize=16)
def _seed_counts(n_seeds: int, n_boot: int, seed: int) -> np.ndarray:
    """Multiplicities [n_boot, n_seeds] of each seed in resamples of the seeds with replacement.

    One seed: all ones, so a one-member group reproduces the prompt-only bootstrap exactly. The
    stream is separate from the prompt resamples' (which every model shares, replicate by replicate).
    """
    if n_seeds == 1:
        counts = np.ones((n_boot, 1))
    else:
        rng = np.random.default_rng([seed, n_seeds, 1])
        idx = rng.integers(0, n_seeds, size=(n_boot, n_seeds)) + n_seeds * np.arange(n_boot)[:, None]
        counts = np.bincount(idx.ravel(), minlength=n_boot * n_seeds).reshape(n_boot, n_seeds).astype(np.float64)
    counts.setflags(write=False)
    return counts


def _small_sample_factor(n_seeds: int, ci: float) -> float:
    """c = sqrt(n / (n - 1)) x t_{n-1, (1+ci)/2} / z_{(1+ci)/2}: the seed part's scale (n >= 2)."""
    q = (1 + ci) / 2
    return math.sqrt(n_seeds / (n_seeds - 1)) * float(_st.t.ppf(q, n_seeds - 1)) / float(_st.norm.ppf(q))


def _seed_parts(boot: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(P, D) of a cluster bootstrap over seeds from each seed's prompt-bootstrap replicates
    boot [n_seeds, n_boot] (one prompt resample per column, shared by every seed): P_r = the mean
    over ALL seeds (seeds fixed: the prompt bootstrap of the seed mean), D_r = S_r - P_r with S_r
    the mean over the seeds resampled with replacement (`_seed_counts`). One seed: (boot[0], None)."""
    n, n_boot = boot.shape
    if n == 1:
        return boot[0], None
    prompt = boot.mean(axis=0)
    return prompt, np.einsum("rs,sr->r", _seed_counts(n, n_boot, seed), boot) / n - prompt


def _corrected(prompt: np.ndarray, dev: np.ndarray | None, n_seeds: int, ci: float) -> np.ndarray:
    """Cluster bootstrap with small-sample correction: replicates P + c D at level `ci`.

    D has variance (n - 1) / n x s^2 / n over seed resamples (s^2 the seeds' sample variance); c^2
    (`_small_sample_factor`) makes it s^2 / n, widened to a t quantile at n - 1 df, while P stays
    the prompt bootstrap. One seed (dev None): P itself, the prompt-only bootstrap bit for bit."""
    return prompt if dev is None or n_seeds < 2 else prompt + _small_sample_factor(n_seeds, ci) * dev


def _interval(prompt, dev, n_seeds: int, ci: float, bounds: tuple[float, float]) -> tuple[float, float]:
    """Percentile interval of the corrected replicates, clipped to the quantity's range (an AUROC
    or a rate lies in [0, 1], a difference of two in [-1, 1]: the t-widened seed part can reach past it)."""
    lo, hi = percentile_ci(_corrected(prompt, dev, n_seeds, ci), ci)
    return (lo, hi) if math.isnan(lo) else (max(bounds[0], lo), min(bounds[1], hi))


def _inverted_p(prompt: np.ndarray, dev: np.ndarray | None, n_seeds: int) -> float:
    """Two-sided p of H0 "the quantity is 0" by inverting the corrected interval: the smallest
    alpha whose (1 - alpha) interval excludes 0 (bisection; the interval narrows as alpha grows,
    c included). So p <= alpha exactly when the CI at level 1 - alpha excludes 0, at every level
    (the report's 95% CIs and its Holm-stepped ones alike). Floor: 2 / (B + 1), the smallest
    tail a percentile interval of B replicates can resolve."""
    if np.isnan(prompt).any() or (dev is not None and np.isnan(dev).any()):
        return math.nan
    floor = 2 / (len(prompt) + 1)

    def excludes(alpha: float) -> bool:
        lo, hi = percentile_ci(_corrected(prompt, dev, n_seeds, 1 - alpha), 1 - alpha)
        return lo > 0 or hi < 0

    if excludes(floor):
        return floor
    if not excludes(1 - 1e-9):
        return 1.0
    a, b = floor, 1 - 1e-9      # excludes(a) is False, excludes(b) is True
    for _ in range(40):
        mid = (a + b) / 2
        a, b = (a, mid) if excludes(mid) else (mid, b)
    return float(b)


def _range(diff: bool) -> tuple[float, float]:
    return (-1.0, 1.0) if diff else (0.0, 1.0)


def pooled(a: list[Draws], b: list[Draws] | None = None, ci: float = 0.95, seed: int = 0) -> dict:
    """Mean over seeds of AUROC(a_s) (or of AUROC(a_s) - AUROC(b_s), seeds paired by position).

    Returns {estimate, lo, hi, z, p, n_seeds}.
    - CI: percentile interval of the corrected cluster bootstrap (`_corrected`), clipped to the
      quantity's range. Several seeds: it covers the seeds' training variance (seeds resampled,
      small-sample corrected at n - 1 df) AND the prompt sampling (one stratified prompt resample
      per replicate, shared by every seed: the seeds were probed on the same prompts, so their
      errors are correlated and resampling them independently would understate the width). One
      seed: the prompts only, exactly the stratified bootstrap.
    - p (only with b): seeds pooled (several members, or members that are themselves seed-pooled
      by `pool`): `_inverted_p` of the same replicates, so p <= alpha exactly when the CI at level
      1 - alpha excludes 0; z is its normal equivalent, sign(estimate) x z_{1 - p/2}. One seed:
      the paired DeLong test (prompts random), exactly delong_paired. Not DeLong on seed-averaged
      components (it holds the seeds fixed, so it can be far smaller than the CI implies) nor
      Stouffer's combination of per-seed z (the seeds share the prompts, so their z are correlated).
    NaN in any member (e.g. a router signal of a model without a router) -> NaN results.
    """
    n = len(a)
    if n == 0 or (b is not None and len(b) != n):
        raise TilelliError(f"pooled: need equally many seeds on both sides (got {n} and {len(b or [])})")
    members = a + list(b or [])
    if n > 1 and any(d.n_seeds > 1 for d in members):
        raise TilelliError("pooled: pool the seeds once (members that are already seed-pooled come one per side)")
    if n > 1:     # one Draws per seed: the seed parts from the members' prompt replicates
        pairs = [(x, y) for x, y in zip(a, b)] if b is not None else [(x, None) for x in a]
        est = float(np.mean([x.auroc - (y.auroc if y else 0.0) for x, y in pairs]))
        prompt, dev = _seed_parts(np.stack([x.boot - (y.boot if y else 0.0) for x, y in pairs]), seed)
        seeds = n
    else:         # one Draws per side, each a model or a seed-pooled group (`pool`)
        x, y = a[0], (b[0] if b is not None else None)
        est = x.auroc - (y.auroc if y else 0.0)
        prompt = x.boot - (y.boot if y else 0.0)
        dx, dy = x.dev, (y.dev if y is not None else None)     # seed parts; None for a single model
        dev = None if dx is None and dy is None else (0.0 if dx is None else dx) - (0.0 if dy is None else dy)
        seeds = max(d.n_seeds for d in members)
        if any(d.n_seeds not in (1, seeds) for d in members):
            raise TilelliError("pooled: both sides must pool the same seeds")
    out = {"estimate": est, "lo": math.nan, "hi": math.nan, "z": math.nan, "p": math.nan, "n_seeds": seeds}
    if math.isnan(est):
        return out
    out["lo"], out["hi"] = _interval(prompt, dev, seeds, ci, _range(b is not None))
    if b is not None and seeds > 1:
        out["p"] = _inverted_p(prompt, dev, seeds)
        out["z"] = math.copysign(float(_st.norm.isf(out["p"] / 2)), est) if est else 0.0
    elif b is not None:
        _, out["z"], out["p"] = _delong_z(est, a[0].v10 - b[0].v10, a[0].v01 - b[0].v01)
    return out


def pool(members: list[Draws], seed: int = 0) -> Draws:
    """The seed-mean of `members` as one Draws (n_seeds = len(members)) carrying both parts of
    `pooled`'s cluster bootstrap: `boot` = the prompt part P, `dev` = the uncorrected seed part D
    (seed resamples shared by every pooled Draws, so differences stay paired by seed). Every
    computation on it equals `pooled` on the members: pooled([pool(a)], [pool(b)]) == pooled(a, b),
    CI and p (the correction is applied at the level asked, when the interval is taken). The
    DeLong components are the seed means (not used for a p once n_seeds > 1)."""
    n = len(members)
    if n == 0:
        raise TilelliError("pool: no members")
    prompt, dev = _seed_parts(np.stack([d.boot for d in members]), seed)
    return Draws(float(np.mean([d.auroc for d in members])), prompt,
                 np.mean([d.v10 for d in members], 0), np.mean([d.v01 for d in members], 0), n, dev)


def interval(d: Draws, ci: float) -> tuple[float, float]:
    """The CI of one Draws' AUROC: the prompt bootstrap of a model, the corrected cluster bootstrap
    of a seed-pooled group (`pool`)."""
    return _interval(d.boot, d.dev, d.n_seeds, ci, _range(False))


# ---------------------------------------------------------------------------------------------
# Multiple comparisons, seeds, proportions
# ---------------------------------------------------------------------------------------------
def holm(pvalues) -> np.ndarray:
    """Holm step-down adjusted p-values (monotone, capped at 1). NaNs stay NaN and are not counted."""
    p = np.asarray(pvalues, dtype=np.float64)
    adj = np.full_like(p, np.nan)
    idx = np.nonzero(~np.isnan(p))[0]
    order = idx[np.argsort(p[idx], kind="mergesort")]
    m, running = len(order), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj


def welch_test(a, b) -> dict:
    """Welch's t-test of mean(a) vs mean(b) (e.g. Lite vs vanilla val bpc over seeds).

    Returns {n_a, n_b, mean_a, mean_b, diff, t, df, p, cohens_d, hedges_g}. Cohen's d uses the
    pooled SD; Hedges' g multiplies it by 1 - 3 / (4 (n_a + n_b) - 9) (small-sample bias).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        raise TilelliError(f"Welch's t-test needs >= 2 seeds per arm (got {len(a)} and {len(b)})")
    va, vb = a.var(ddof=1), b.var(ddof=1)
    res = _st.ttest_ind(a, b, equal_var=False)
    se2 = va / len(a) + vb / len(b)
    df = se2**2 / ((va / len(a)) ** 2 / (len(a) - 1) + (vb / len(b)) ** 2 / (len(b) - 1)) if se2 > 0 else math.nan
    pooled = math.sqrt(((len(a) - 1) * va + (len(b) - 1) * vb) / (len(a) + len(b) - 2))
    d = (a.mean() - b.mean()) / pooled if pooled > 0 else math.nan
    g = d * (1 - 3 / (4 * (len(a) + len(b)) - 9))
    return {"n_a": len(a), "n_b": len(b), "mean_a": float(a.mean()), "mean_b": float(b.mean()),
            "diff": float(a.mean() - b.mean()), "t": float(res.statistic), "df": float(df),
            "p": float(res.pvalue), "cohens_d": float(d), "hedges_g": float(g)}


def paired_t(a, b, ci: float = 0.95) -> dict:
    """Paired t-test of mean(a - b) over pairs (a_i, b_i), e.g. a variant and its control per seed.

    Returns {n, delta, per_pair, sd, t, df, p, lo, hi}: delta = mean of the differences, (lo, hi)
    the two-sided t-interval at level `ci` and p the matching two-sided p (p < 1 - ci exactly when
    the interval excludes 0). The pairing removes what a pair shares (the seed, the start); with
    3 pairs df = 2, so the interval is wide unless the differences agree. Constant differences
    (sd = 0): the interval is the point and p is 0 (or 1 when the difference is 0).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise TilelliError(f"paired t-test needs two equal-length 1-D samples (got {a.shape} and {b.shape})")
    if len(a) < 2:
        raise TilelliError(f"paired t-test needs >= 2 pairs (got {len(a)})")
    d = a - b
    delta, sd, df = float(d.mean()), float(d.std(ddof=1)), len(d) - 1
    out = {"n": len(d), "delta": delta, "per_pair": d.tolist(), "sd": sd, "df": df}
    if sd == 0:
        return {**out, "t": math.copysign(math.inf, delta) if delta else 0.0, "p": 0.0 if delta else 1.0,
                "lo": delta, "hi": delta}
    se = sd / math.sqrt(len(d))
    t = delta / se
    half = float(_st.t.ppf(0.5 + ci / 2, df)) * se
    return {**out, "t": float(t), "p": float(2 * _st.t.sf(abs(t), df)), "lo": delta - half, "hi": delta + half}


def tost_welch(a, b, margin: float, alpha: float = 0.05) -> dict:
    """Two one-sided Welch tests (TOST) of equivalence: H0 |mean(a) - mean(b)| >= margin.

    Returns {diff, margin, df, p_lower, p_upper, p (= max of the two), lo, hi, equivalent}: (lo, hi)
    is the (1 - 2 alpha) Welch interval of the difference, and `equivalent` (p < alpha) holds
    exactly when that interval lies inside (-margin, +margin). Welch's df, as welch_test.
    """
    if not margin > 0:
        raise TilelliError(f"TOST needs a margin > 0 (got {margin})")
    w = welch_test(a, b)
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    diff = w["diff"]
    if se == 0:   # both arms constant: the difference is exact
        inside = abs(diff) < margin
        return {"diff": diff, "margin": margin, "df": math.nan, "p_lower": 0.0 if diff > -margin else 1.0,
                "p_upper": 0.0 if diff < margin else 1.0, "p": 0.0 if inside else 1.0,
                "lo": diff, "hi": diff, "equivalent": inside}
    df = w["df"]
    p_lower = float(_st.t.sf((diff + margin) / se, df))    # H0: diff <= -margin
    p_upper = float(_st.t.cdf((diff - margin) / se, df))   # H0: diff >= +margin
    half = float(_st.t.ppf(1 - alpha, df)) * se
    p = max(p_lower, p_upper)
    return {"diff": diff, "margin": margin, "df": df, "p_lower": p_lower, "p_upper": p_upper, "p": p,
            "lo": diff - half, "hi": diff + half, "equivalent": bool(p < alpha)}


def pooled_rate(flags, ci: float = 0.95, n_boot: int = 2000, seed: int = 0) -> dict:
    """A rate over the same items scored by several seeds: flags [n_seeds, n_items] of 0/1.

    Returns {rate, lo, hi, hits, n, n_seeds, per_seed}: rate = mean over seeds of each seed's
    rate, hits = its mean count over seeds (a seed mean, not a whole number), n = n_items (the
    items are the same for every seed: not n_items x n_seeds trials), per_seed the seeds' rates.
    The CI is the hull of two intervals: the corrected cluster bootstrap of `pooled`
    (`_seed_corrected`: items resampled once per replicate for every seed, seeds resampled with
    the n - 1 df correction), which covers the seeds' training variance and the item sampling,
    and the Wilson interval of the rate at n = n_items, which stays honest at 0 and n_items where
    a percentile bootstrap collapses to a point (0/30 would give [0, 0]). With one seed it is the
    Wilson interval alone, i.e. exactly the per-model rate of `behaviour`.
    """
    f = np.asarray(flags, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] == 0 or f.shape[1] == 0 or not np.isin(f, (0, 1)).all():
        raise TilelliError(f"pooled_rate needs a non-empty [n_seeds, n_items] array of 0/1 flags (got {f.shape})")
    n_seeds, n = f.shape
    rate = float(f.mean())
    lo, hi = wilson_ci(rate * n, n, ci)
    if n_seeds > 1:
        rng = np.random.default_rng([seed, n, 2])
        idx = rng.integers(0, n, size=(n_boot, n)) + n * np.arange(n_boot)[:, None]
        item_counts = np.bincount(idx.ravel(), minlength=n_boot * n).reshape(n_boot, n)
        per_seed = item_counts @ f.T / n                                  # [n_boot, n_seeds]
        b_lo, b_hi = _interval(*_seed_parts(per_seed.T, seed), n_seeds, ci, _range(False))
        lo, hi = min(lo, b_lo), max(hi, b_hi)
    return {"rate": rate, "lo": lo, "hi": hi, "hits": float(f.sum(axis=1).mean()), "n": n, "n_seeds": n_seeds,
            "per_seed": f.mean(axis=1).tolist()}


def wilson_ci(k: int, n: int, ci: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n (sane at k = 0 or k = n, unlike Wald)."""
    if n <= 0:
        return math.nan, math.nan
    z = float(_st.norm.ppf(1 - (1 - ci) / 2))
    phat = k / n
    centre = (phat + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


# ---------------------------------------------------------------------------------------------
# Selective prediction
# ---------------------------------------------------------------------------------------------
def risk_coverage(score, error) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(coverage, risk, thresholds, aurc) when the model answers the prompts with the LOWEST scores.

    `score` is an abstention score (e.g. abstain_p: higher = abstain first); `error` is 1 where
    answering is wrong (e.g. the prompt's expected behaviour is to abstain). Points are at every
    distinct threshold t: answer iff score <= t. AURC = sum of risk x coverage step, which with
    no ties equals the mean over k of the risk of the k lowest-scored prompts.
    """
    s = np.asarray(score, dtype=np.float64)
    e = np.asarray(error, dtype=np.float64)
    if s.shape != e.shape or s.ndim != 1 or len(s) == 0:
        raise TilelliError("risk_coverage needs 1-D score and error arrays of equal, non-zero length")
    if np.isnan(s).any():
        nan = np.array([np.nan])
        return nan, nan, nan, math.nan
    order = np.argsort(s, kind="mergesort")
    s_sorted, e_sorted = s[order], e[order]
    last_of_run = np.r_[np.nonzero(np.diff(s_sorted))[0], len(s) - 1]
    accepted = last_of_run + 1
    risk = np.cumsum(e_sorted)[last_of_run] / accepted
    coverage = accepted / len(s)
    aurc = float(np.sum(risk * np.diff(np.r_[0.0, coverage])))
    return coverage, risk, s_sorted[last_of_run], aurc
