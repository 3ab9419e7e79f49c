"""AUROC statistics: agreement with scikit-learn, bootstrap sanity, DeLong vs its O(n^2) definition."""
import math

import numpy as np
import pytest
from scipy import stats as st
from sklearn.metrics import roc_auc_score, roc_curve

from tilelli.eval import stats
from tilelli.io import TilelliError


def _data(seed, n_pos=30, n_neg=180, shift=0.8, decimals=1):
    rng = np.random.default_rng(seed)
    s = np.r_[rng.normal(shift, 1, n_pos), rng.normal(0, 1, n_neg)].round(decimals)  # ties on purpose
    y = np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)]
    return y, s


@pytest.mark.parametrize("seed", range(20))
def test_auroc_matches_sklearn_with_ties(seed):
    y, s = _data(seed, decimals=seed % 3)
    assert abs(stats.auroc(y, s) - roc_auc_score(y, s)) < 1e-9


def test_auroc_edge_cases():
    assert stats.auroc([1, 0], [1.0, 0.0]) == 1.0
    assert stats.auroc([1, 0], [0.0, 1.0]) == 0.0
    assert stats.auroc([1, 1, 0, 0], [0.5] * 4) == 0.5
    assert math.isnan(stats.auroc([1, 0], [math.nan, 0.0]))
    with pytest.raises(TilelliError):
        stats.auroc([1, 1], [0.1, 0.2])


@pytest.mark.parametrize("seed", range(5))
def test_roc_points_match_sklearn(seed):
    y, s = _data(seed)
    fpr, tpr, thr = stats.roc_points(y, s)
    f2, t2, th2 = roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, f2)
    np.testing.assert_allclose(tpr, t2)
    np.testing.assert_allclose(thr[1:], th2[1:])
    assert abs(np.trapezoid(tpr, fpr) - stats.auroc(y, s)) < 1e-12


def test_bootstrap_is_deterministic_and_brackets_the_estimate():
    y, s = _data(0)
    a = stats.bootstrap_auroc_ci(y, s, n_boot=500, seed=3)
    assert a == stats.bootstrap_auroc_ci(y, s, n_boot=500, seed=3)
    assert a != stats.bootstrap_auroc_ci(y, s, n_boot=500, seed=4)
    assert a[0] < stats.auroc(y, s) < a[1]


def test_bootstrap_ci_width_matches_the_study_numbers():
    # NOTES.md: at AUROC 0.8 the 95% half-width is ~0.10 for 30 vs 180 and ~0.11 for 30 vs 30
    shift = math.sqrt(2) * st.norm.ppf(0.8)  # binormal: AUROC = Phi(shift / sqrt 2)
    for n_neg, expect in ((180, 0.099), (30, 0.113)):
        widths = []
        for seed in range(10):
            y, s = _data(seed, n_neg=n_neg, shift=shift, decimals=8)
            lo, hi = stats.bootstrap_auroc_ci(y, s, n_boot=1000, seed=seed)
            widths.append((hi - lo) / 2)
        assert abs(np.mean(widths) - expect) < 0.03


def test_bootstrap_coverage_is_about_95_percent():
    shift = math.sqrt(2) * st.norm.ppf(0.75)  # true AUROC 0.75
    hits = 0
    for seed in range(120):
        y, s = _data(1000 + seed, n_pos=30, n_neg=30, shift=shift, decimals=8)
        lo, hi = stats.bootstrap_auroc_ci(y, s, n_boot=400, seed=seed)
        hits += lo <= 0.75 <= hi
    assert 0.85 <= hits / 120 <= 0.995


def test_bootstrap_of_the_difference_is_paired():
    y, s = _data(1)
    assert stats.bootstrap_auroc_diff(y, s, s, n_boot=200) == (0.0, 0.0, 0.0)
    rng = np.random.default_rng(0)
    noisy = s + rng.normal(0, 0.05, len(s))  # almost the same ranking: paired CI must be narrow
    d, lo, hi = stats.bootstrap_auroc_diff(y, s, noisy, n_boot=1000)
    assert abs(d - (stats.auroc(y, s) - stats.auroc(y, noisy))) < 1e-12
    unpaired_half = np.diff(stats.bootstrap_auroc_ci(y, s, n_boot=1000))[0] / 2
    assert (hi - lo) / 2 < unpaired_half / 3
    assert all(math.isnan(v) for v in stats.bootstrap_auroc_diff(y, s, s * math.nan, n_boot=10))


def _delong_slow(y, a, b):
    """DeLong's variance straight from its definition: O(n_pos x n_neg) kernel matrices."""
    y = np.asarray(y)
    comps = []
    for s in (a, b):
        pos, neg = s[y == 1], s[y == 0]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        comps.append((psi.mean(), psi.mean(1), psi.mean(0)))
    m, n = (y == 1).sum(), (y == 0).sum()
    s10 = np.cov(np.vstack([comps[0][1], comps[1][1]]))
    s01 = np.cov(np.vstack([comps[0][2], comps[1][2]]))
    c = s10 / m + s01 / n
    return (comps[0][0] - comps[1][0]) / math.sqrt(c[0, 0] + c[1, 1] - 2 * c[0, 1])


@pytest.mark.parametrize("seed", range(6))
def test_delong_matches_the_quadratic_definition(seed):
    y, a = _data(seed)
    b = a + np.random.default_rng(seed).normal(0, 1.0, len(a)).round(1)
    res = stats.delong_paired(y, a, b)
    assert abs(res["z"] - _delong_slow(y, a, b)) < 1e-9
    assert abs(res["p"] - 2 * st.norm.sf(abs(res["z"]))) < 1e-12
    assert abs(res["auroc_a"] - roc_auc_score(y, a)) < 1e-12


def test_delong_known_cases():
    y, a = _data(2)
    same = stats.delong_paired(y, a, a.copy())
    assert same["p"] == 1.0 and same["z"] == 0.0
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(100, int), np.zeros(100, int)]
    perfect = np.r_[np.ones(100), np.zeros(100)] + rng.normal(0, 0.01, 200)
    assert stats.delong_paired(y, perfect, rng.normal(size=200))["p"] < 1e-10
    swapped = stats.delong_paired(y, rng.normal(size=200), perfect)
    assert swapped["z"] < 0


def test_holm_known_values():
    adj = stats.holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adj, [0.03, 0.06, 0.06, 0.02])
    adj = stats.holm([0.5, math.nan, 0.01])  # NaN: not counted in m
    assert math.isnan(adj[1]) and adj[2] == pytest.approx(0.02) and adj[0] == pytest.approx(0.5)
    assert stats.holm([0.9, 0.8]).max() <= 1.0


def test_welch_and_effect_sizes():
    a, b = [0.5686, 0.5690, 0.5679], [0.5707, 0.5711, 0.5702]
    r = stats.welch_test(a, b)
    ref = st.ttest_ind(a, b, equal_var=False)
    assert r["p"] == pytest.approx(ref.pvalue) and r["t"] == pytest.approx(ref.statistic)
    sd = math.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / 2)  # equal n: pooled = RMS of SDs
    assert r["cohens_d"] == pytest.approx((np.mean(a) - np.mean(b)) / sd)
    assert r["hedges_g"] == pytest.approx(r["cohens_d"] * (1 - 3 / (4 * 6 - 9)))
    assert r["df"] == pytest.approx(ref.df)
    with pytest.raises(TilelliError, match="seeds per arm"):
        stats.welch_test([0.5686, 0.5690, 0.5679], [0.5707])


def test_wilson_interval():
    lo, hi = stats.wilson_ci(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = stats.wilson_ci(7, 20)
    assert lo == pytest.approx(0.1812, abs=1e-3) and hi == pytest.approx(0.5671, abs=1e-3)


def test_risk_coverage_and_aurc():
    rng = np.random.default_rng(0)
    score = rng.random(50)
    err = (rng.random(50) < 0.3).astype(float)
    cov, risk, thr, aurc = stats.risk_coverage(score, err)
    order = np.argsort(score)
    by_k = np.cumsum(err[order]) / np.arange(1, 51)
    assert aurc == pytest.approx(by_k.mean()) and cov[-1] == 1.0 and risk[-1] == pytest.approx(err.mean())
    _, _, _, oracle = stats.risk_coverage(err + 0.01 * score, err)  # errors abstained first
    _, _, _, worst = stats.risk_coverage(-err + 0.01 * score, err)
    assert oracle < aurc < worst
    _, _, _, tied = stats.risk_coverage(np.zeros(50), err)  # one threshold: risk = base rate
    assert tied == pytest.approx(err.mean())


# ---------------------------------------------------------------------------------------------
# Draws and the seed-pooled (two-level) statistics
# ---------------------------------------------------------------------------------------------
def test_draws_are_linear_in_the_pair_matrix():
    y, a = _data(3)
    b = a + np.random.default_rng(3).normal(0, 1.0, len(a)).round(1)
    da, db = stats.draws(y, a, 300, 5), stats.draws(y, b, 300, 5)
    pos_a, neg_a, pos_b, neg_b = a[y == 1], a[y == 0], b[y == 1], b[y == 0]
    (direct,) = stats._boot_aurocs([stats._pair_matrix(pos_a, neg_a) - stats._pair_matrix(pos_b, neg_b)], 300, 5)
    np.testing.assert_allclose(da.boot - db.boot, direct, atol=1e-12)
    assert da.auroc == stats.auroc(y, a) and (da.n_pos, da.n_neg) == (30, 180)
    nan = stats.draws(y, a * math.nan, 300, 5)
    assert math.isnan(nan.auroc) and np.isnan(nan.boot).all()


def test_pooled_collapses_to_the_single_model_statistics_for_one_seed():
    y, a = _data(4)
    b = a + np.random.default_rng(4).normal(0, 0.8, len(a))
    da, db = stats.draws(y, a, 500, 2), stats.draws(y, b, 500, 2)
    one = stats.pooled([da], None, 0.95, 2)
    assert one["estimate"] == stats.auroc(y, a) and one["n_seeds"] == 1
    assert (one["lo"], one["hi"]) == stats.bootstrap_auroc_ci(y, a, n_boot=500, seed=2)
    diff = stats.pooled([da], [db], 0.95, 2)
    d, lo, hi = stats.bootstrap_auroc_diff(y, a, b, n_boot=500, seed=2)
    assert (diff["estimate"], diff["lo"], diff["hi"]) == pytest.approx((d, lo, hi), abs=1e-12)
    assert diff["p"] == pytest.approx(stats.delong_paired(y, a, b)["p"], rel=1e-9)


def _delong_mean_slow(y, a_list, b_list):
    """DeLong z of mean_s AUROC(a_s) - AUROC(b_s) from the O(n_pos x n_neg) averaged kernel."""
    y = np.asarray(y)

    def psi(s):
        pos, neg = s[y == 1], s[y == 0]
        return (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])

    k = np.mean([psi(a) - psi(b) for a, b in zip(a_list, b_list)], 0)
    var = np.var(k.mean(1), ddof=1) / k.shape[0] + np.var(k.mean(0), ddof=1) / k.shape[1]
    return k.mean() / math.sqrt(var)


def test_pooled_draws_carry_the_averaged_kernel_and_test_by_bootstrap():
    """pool()'s DeLong components are the seed-averaged kernel's (DeLong with the seeds held fixed);
    the seed-pooled p is NOT that DeLong p but the inversion of the corrected interval, the
    same whether pooled() gets the members or their pool()ed Draws."""
    rng = np.random.default_rng(7)
    y, base = _data(7)
    a_list = [base + rng.normal(0, 0.7, len(base)) for _ in range(3)]
    b_list = [base + rng.normal(0, 1.2, len(base)).round(1) for _ in range(3)]
    da, db = [stats.draws(y, a, 100) for a in a_list], [stats.draws(y, b, 100) for b in b_list]
    pa, pb = stats.pool(da), stats.pool(db)
    est = pa.auroc - pb.auroc
    _, z_fixed, _ = stats._delong_z(est, pa.v10 - pb.v10, pa.v01 - pb.v01)
    assert z_fixed == pytest.approx(_delong_mean_slow(y, a_list, b_list), rel=1e-9)
    r, rp = stats.pooled(da, db), stats.pooled([pa], [pb])
    assert r["estimate"] == pytest.approx(np.mean([stats.auroc(y, a) - stats.auroc(y, b)
                                                   for a, b in zip(a_list, b_list)]))
    assert (pa.n_seeds, r["n_seeds"], rp["n_seeds"]) == (3, 3, 3)
    assert r["p"] == stats._inverted_p(pa.boot - pb.boot, pa.dev - pb.dev, 3)
    assert (rp["estimate"], rp["lo"], rp["hi"], rp["p"]) == pytest.approx((r["estimate"], r["lo"], r["hi"], r["p"]),
                                                                           abs=1e-12)


def _seeded_group(rng, n_seeds, tau, n=30, d=1.0):
    """Seeds of one variant on the same prompts: score = y * d_s + prompt effect + seed noise,
    d_s ~ N(d, tau^2). Population AUROC of a seed: Phi(d_s / sqrt(2.5)); over seeds its mean is
    Phi(d / sqrt(2.5 + tau^2))."""
    y = np.r_[np.ones(n, int), np.zeros(n, int)]
    shared = rng.normal(0, 1.0, 2 * n)
    return y, [y * rng.normal(d, tau) + shared + rng.normal(0, 0.5, 2 * n) for _ in range(n_seeds)]


def test_two_level_bootstrap_covers_the_mean_over_seeds():
    """Seeds that differ (tau = 1): the two-level CI covers the population mean AUROC at about the
    nominal rate; resampling prompts only (seeds held fixed) under-covers it clearly."""
    truth = st.norm.cdf(1.0 / math.sqrt(2.5 + 1.0))
    two_level = prompts_only = 0
    reps = 150
    for rep in range(reps):
        y, scores = _seeded_group(np.random.default_rng(rep), n_seeds=8, tau=1.0)
        ds = [stats.draws(y, s, 400, rep) for s in scores]
        r = stats.pooled(ds, None, 0.95, rep)
        two_level += r["lo"] <= truth <= r["hi"]
        lo, hi = stats.percentile_ci(np.mean([d.boot for d in ds], 0), 0.95)
        prompts_only += lo <= truth <= hi
    assert 0.85 <= two_level / reps <= 0.99
    assert prompts_only / reps <= two_level / reps - 0.08


def test_two_level_bootstrap_shares_the_prompt_resample_across_seeds():
    """Identical seeds: seed resampling changes nothing, so the CI equals one seed's CI."""
    y, s = _data(9)
    d = stats.draws(y, s, 400, 1)
    r = stats.pooled([d, d, d], None, 0.95, 1)
    assert (r["lo"], r["hi"]) == pytest.approx(stats.percentile_ci(d.boot, 0.95), abs=1e-12)
    with pytest.raises(TilelliError, match="equally many seeds"):
        stats.pooled([d, d], [d])


def test_small_sample_correction_gives_the_seed_part_the_t_interval_width():
    """No prompt noise (each seed's replicates constant): the corrected replicates' SD is
    t_{n-1} / z x s / sqrt(n), the t-interval's scale, where resampling the seeds alone gives
    sqrt((n - 1) / n) x s / sqrt(n). One seed: the replicates themselves."""
    x = np.array([0.61, 0.74, 0.55, 0.80, 0.68])
    n, n_boot = len(x), 20000
    reps = stats._corrected(*stats._seed_parts(np.repeat(x[:, None], n_boot, 1), 3), n, 0.95)
    t_over_z = st.t.ppf(0.975, n - 1) / st.norm.ppf(0.975)
    assert reps.std() == pytest.approx(t_over_z * x.std(ddof=1) / math.sqrt(n), rel=0.02)
    assert stats._small_sample_factor(n, 0.95) == pytest.approx(math.sqrt(n / (n - 1)) * t_over_z)
    one = np.random.default_rng(0).normal(size=(1, 50))
    assert np.array_equal(stats._corrected(*stats._seed_parts(one, 0), 1, 0.95), one[0])


def _truth_auroc(mu, tau, sig_a, sig_e):
    """E_delta of a seed's population AUROC Phi((mu + delta) / sqrt(2 (sig_a^2 + sig_e^2))), delta ~
    N(0, tau^2), by Gauss-Hermite; it equals the closed form Phi(mu / sqrt(2 (sig_a^2 + sig_e^2) + tau^2))."""
    x, w = np.polynomial.hermite_e.hermegauss(80)
    k = math.sqrt(2 * (sig_a ** 2 + sig_e ** 2))
    gh = float(np.sum(w * st.norm.cdf((mu + tau * x) / k)) / math.sqrt(2 * math.pi))
    assert gh == pytest.approx(st.norm.cdf(mu / math.sqrt(k ** 2 + tau ** 2)), abs=1e-9)
    return gh


def _coverage(mu, tau, sig_a, sig_e, sims=1000, n_seeds=5, n=30, n_boot=400):
    """(corrected, uncorrected c = 1) coverage of pooled's 95% CI of the mean over 5 seeds, over
    `sims` simulated studies on 30 vs 30 prompts: score_{s,i} = y_i (mu + delta_s) + a_i + e_{s,i},
    a_i ~ N(0, sig_a^2) the prompt's effect (shared: every seed sees the same prompts), delta_s ~
    N(0, tau^2) seed s's shift of the positive class, e_{s,i} ~ N(0, sig_e^2) seed x prompt noise."""
    truth = _truth_auroc(mu, tau, sig_a, sig_e)
    y = np.r_[np.ones(n, int), np.zeros(n, int)]
    hits = np.zeros(2)
    for rep in range(sims):
        rng = np.random.default_rng([rep, 7])
        a = rng.normal(0, sig_a, 2 * n)
        ds = [stats.draws(y, y * (mu + rng.normal(0, tau)) + a + rng.normal(0, sig_e, 2 * n), n_boot, rep)
              for _ in range(n_seeds)]
        r = stats.pooled(ds, None, 0.95, rep)
        boot = np.stack([d.boot for d in ds])
        uncorrected = np.einsum("rs,sr->r", stats._seed_counts(n_seeds, n_boot, rep), boot) / n_seeds
        lo, hi = stats.percentile_ci(uncorrected, 0.95)
        hits += [r["lo"] <= truth <= r["hi"], lo <= truth <= hi]
    return tuple(hits / sims)


def test_seed_pooled_ci_covers_the_mean_seed_auroc_with_five_seeds():
    """Known truth, 5 seeds, 30 vs 30 prompts: the corrected cluster bootstrap covers the expected
    per-seed AUROC at about 95% whether the seeds (tau = 2: seeds far apart) or the prompts (tau =
    0.1) dominate; resampling the 5 seeds as they are (c = 1: variance 4/5 of the unbiased one,
    normal tails) under-covers when the seeds dominate (measured ~0.88, corrected ~0.94)."""
    seed_dominated = _coverage(mu=0.5, tau=2.0, sig_a=1.0, sig_e=0.2)
    prompt_dominated = _coverage(mu=1.0, tau=0.1, sig_a=1.0, sig_e=0.3)
    assert 0.90 <= seed_dominated[0] <= 0.99, seed_dominated
    assert 0.90 <= prompt_dominated[0] <= 0.99, prompt_dominated
    assert seed_dominated[1] < 0.90, seed_dominated        # the uncorrected interval fails this test


def test_pooled_rate_covers_the_mean_seed_rate_with_five_seeds():
    """Bernoulli flags on 20 items x 5 seeds, P(flag) = Phi(m + b_i + u_s): item effect b_i ~ N(0, 0.3^2)
    shared by the seeds, seed shift u_s ~ N(0, 1.5^2); truth E[Phi(m + b + u)] = Phi(m / sqrt(1 + 0.3^2 +
    1.5^2)). The pooled rate's CI covers it at about 95% (the uncorrected one, hulled with the same
    Wilson interval, measured ~0.90)."""
    m, sb, su, n_items, n_seeds, sims = 0.3, 0.3, 1.5, 20, 5, 400
    truth = st.norm.cdf(m / math.sqrt(1 + sb ** 2 + su ** 2))
    covered = 0
    for rep in range(sims):
        rng = np.random.default_rng([rep, 11])
        p = rng.normal(0, sb, n_items) + rng.normal(0, su, (n_seeds, 1)) + m
        r = stats.pooled_rate((rng.normal(size=(n_seeds, n_items)) < p).astype(int), 0.95, 400, rep)
        covered += r["lo"] <= truth <= r["hi"]
    assert 0.90 <= covered / sims <= 0.99, covered / sims


def test_seed_pooled_p_is_below_alpha_exactly_when_the_ci_excludes_zero():
    """Pooled differences over 2, 3 or 5 seeds: p < alpha iff the CI at level 1 - alpha excludes 0,
    at 95% and at a Holm-stepped level (99.5%: the small-sample factor differs by level), also on
    pool()ed Draws (the seed-pooled win rule's input)."""
    rng = np.random.default_rng(12)
    y = np.r_[np.ones(30, int), np.zeros(30, int)]
    seen = set()
    for case in range(45):
        n_seeds = (2, 3, 5)[case % 3]
        a = rng.normal(0, 1, 60)
        gap = rng.uniform(-0.8, 0.8)

        def seeds(mu):
            return [stats.draws(y, y * rng.normal(mu, 0.3) + a + rng.normal(0, 0.6, 60), 500, case)
                    for _ in range(n_seeds)]

        da, db = seeds(0.8 + gap), seeds(0.8)
        for level in (0.95, 0.995):
            for r in (stats.pooled(da, db, level, case),
                      stats.pooled([stats.pool(da, case)], [stats.pool(db, case)], level, case)):
                excludes = r["lo"] > 0 or r["hi"] < 0
                assert (r["p"] < 1 - level) == excludes, (case, level, r)
                assert r["n_seeds"] == n_seeds and math.copysign(1, r["z"]) == math.copysign(1, r["estimate"])
                seen.add(excludes)
    assert seen == {True, False}


def test_paired_t_matches_scipy_and_its_interval_agrees_with_its_p():
    rng = np.random.default_rng(3)
    for _ in range(50):
        a = rng.normal(0.0, 1.0, 4)
        b = a + rng.normal(0.5, 0.8, 4)
        r = stats.paired_t(b, a)
        ref = st.ttest_rel(b, a)
        assert r["t"] == pytest.approx(ref.statistic) and r["p"] == pytest.approx(ref.pvalue)
        assert (r["p"] < 0.05) == (r["lo"] > 0 or r["hi"] < 0)
    with pytest.raises(TilelliError, match="equal-length"):
        stats.paired_t([1.0, 2.0], [1.0])


def test_tost_shows_equivalence_only_inside_the_margin():
    a = [0.5686, 0.5690, 0.5682]
    same = stats.tost_welch(a, [0.5707, 0.5702, 0.5711], margin=0.01)
    assert same["equivalent"] and -0.01 < same["lo"] < same["hi"] < 0.01 and same["p"] < 0.05
    far = stats.tost_welch(a, [0.60, 0.61, 0.59], margin=0.01)
    assert not far["equivalent"] and far["p"] > 0.5
    noisy = stats.tost_welch(a, [0.55, 0.59, 0.57], margin=0.01)       # low power is not equivalence
    assert not noisy["equivalent"] and stats.welch_test(a, [0.55, 0.59, 0.57])["p"] > 0.05
    # the interval is the (1 - 2 alpha) Welch interval: equivalent <=> it lies inside +-margin
    rng = np.random.default_rng(1)
    for _ in range(100):
        x, y = rng.normal(0, 0.01, 3), rng.normal(rng.uniform(-0.02, 0.02), 0.01, 3)
        r = stats.tost_welch(x, y, 0.02)
        assert r["equivalent"] == (-0.02 < r["lo"] and r["hi"] < 0.02)


def test_pooled_rate_is_wilson_for_one_seed_and_never_collapses_at_zero():
    one = stats.pooled_rate([[1] * 7 + [0] * 13])
    assert (one["rate"], one["lo"], one["hi"]) == pytest.approx((0.35, *stats.wilson_ci(7, 20)))
    zero = stats.pooled_rate(np.zeros((3, 30)))
    assert zero["rate"] == 0 and zero["lo"] == 0 and zero["hi"] > 0.1         # a bootstrap alone gives [0, 0]
    spread = stats.pooled_rate([[1] * 3 + [0] * 27, [1] * 15 + [0] * 15, [1] * 27 + [0] * 3])
    w_lo, w_hi = stats.wilson_ci(15, 30)
    assert spread["rate"] == pytest.approx(0.5) and spread["lo"] < w_lo and spread["hi"] > w_hi  # seeds add width
    with pytest.raises(TilelliError, match="0/1 flags"):
        stats.pooled_rate([[0.5, 1.0]])


def test_seed_pooled_intervals_stay_inside_the_quantitys_range():
    """Two seeds far apart: the t-widened seed part (c ~ 9 at 1 df) reaches past 1; the AUROC's CI
    is clipped to [0, 1], a difference's to [-1, 1]."""
    y = np.r_[np.ones(30, int), np.zeros(30, int)]
    rng = np.random.default_rng(5)
    hi_seed = stats.draws(y, y * 3.0 + rng.normal(0, 1, 60), 400, 0)
    lo_seed = stats.draws(y, y * 0.5 + rng.normal(0, 1, 60), 400, 0)
    r = stats.pooled([hi_seed, lo_seed], None, 0.95, 0)
    assert 0.0 <= r["lo"] < r["hi"] <= 1.0 and r["hi"] == 1.0
    d = stats.pooled([hi_seed, lo_seed], [lo_seed, hi_seed], 0.95, 0)
    assert -1.0 <= d["lo"] and d["hi"] <= 1.0
