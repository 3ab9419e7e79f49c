"""The prompt-only controls: the `surface` baseline and the distance-to-training baselines (nn_char4, ngram_lr).

Surface
-------
The `surface` baseline: how far trivial prompt features alone separate in-domain from OOD.

    model = fit_surface(prompts_in, prompts_ood)      # training prompts only, never the probe
    scores = model.score(probe_prompts)               # higher = more OOD (a logit)
    rows, metrics = probe_surface(probe_rows, prompts_in, prompts_ood)

Why: the probe's regimes differ in form as well as in meaning. On the old probe a logistic
regression on five such features, cross-validated on the probe itself, gave AUROC 0.91 pooled
(long_input 1.00, gibberish 0.995); the metacog abstain heads reached 0.97-0.99. A signal that
"separates" must beat this baseline, not just chance. (This baseline goes beyond the published
study.) It is fitted like the metacog heads: in-domain = data/sft/chat_train.jsonl prompts
(label 0), OOD = data/sft/ood_train.jsonl prompts (label 1), so it sees the same training
distribution and nothing of the probe; `probe_surface` refuses a probe prompt that occurs in
the training prompts.

Model: class-balanced L2-regularised logistic regression on standardised features (training
mean and std), fitted by Newton's method with backtracking (deterministic, no random start;
converges in ~10-20 steps on 13 features). L2 = 1.0 on the weighted log-loss summed over
~3,600 prompts is mild; it keeps the weights finite when a feature separates a class outright
(gibberish by frac_letter). The score is the logit, not the probability, so saturated
probabilities cannot create ties.

Familiarity
-----------
Distance-to-training baselines: how far "have I seen this phrasing?" alone separates the probe.

    cols, metrics = probe_familiarity(probe_rows, prompts_in, prompts_ood)
    cols["nn_char4"]   # 1 - max cosine of the prompt's character-4-gram counts to any in-domain training prompt
    cols["ngram_lr"]   # logit of a logistic regression on hashed character 1-4-grams (in-domain vs OOD training)

Why: the metacog heads are trained to call "chat-training phrasing about a real place" in-domain
and everything else OOD. On the committed run a parameter-free nearest-neighbour similarity to
the chat training prompts separated in-domain from pooled OOD probe prompts at AUROC 0.99, at or
above every head (0.97-0.98). A head that does no better than these baselines shows no more than
familiarity with the training phrasings. Both are fitted / indexed on training prompts only
(data/sft chat_train = in-domain, ood_train = OOD, as `surface`); `probe_familiarity` refuses a
probe prompt that occurs in them. Both are oriented higher = more OOD, like every control.

nn_char4 (no fitting): count vectors of the overlapping character 4-grams of the raw prompt (case
and spacing kept; a prompt shorter than 4 characters is its own single gram); similarity = the
largest cosine to any chat_train prompt (the in-domain training set: similarity to the OOD
training prompts would count familiar OOD phrasing as in-domain). Grams absent from training count
in the probe prompt's norm. A prompt that is a training prompt has similarity exactly 1.

ngram_lr: hashed character 1-4-gram counts (crc32 mod 2^18 buckets: stable across processes and
machines, unlike Python's salted hash), each row scaled to unit L2 norm so length is not a
feature (`surface` has length), class-balanced L2-regularised logistic regression (L2 = 1 on the
weighted log-loss summed over the training prompts, intercept unpenalised; the `surface`
convention), fitted by truncated Newton (conjugate gradient on Hessian-vector products, backtracking
line search) from zero: deterministic, no random start, sparse, seconds on CPU. The
objective is strictly convex, so the fit converges to its unique minimum on any CPU; the scores
(logits) are rounded to 1e-9 so that the last bits of BLAS reductions cannot change the file.
"""
from __future__ import annotations

import math
import re
import string
import zlib
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import sparse

from tilelli.data.chat import format_prompt
from tilelli.eval.regimes import CONTRASTS, contrast_rows
from tilelli.eval.stats import auroc
from tilelli.io import TilelliError


# ---- Surface -------------------------------------------------------------------------------------
FEATURES = ("bytes", "log_bytes", "words", "mean_word_bytes", "frac_letter", "frac_digit", "frac_space",
            "frac_upper", "frac_punct", "frac_nonascii", "ends_question", "starts_upper", "has_place")
L2 = 1.0
CV_FOLDS = 5
_PUNCT = set(string.punctuation)


@lru_cache(maxsize=1)
def _place_pattern() -> re.Pattern:
    """Every real place name and capital from tilelli.data.facts, whole words, any case."""
    from tilelli.data.facts import places
    names = sorted({n for p in places() for n in (p.name, p.capital)}, key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(n) for n in names) + r")(?!\w)", re.IGNORECASE)


def features(prompt: str) -> np.ndarray:
    """The FEATURES of one raw prompt (no chat frame: it adds the same 15 bytes to every prompt).

    bytes            UTF-8 length (long_input is length-defined by design)
    log_bytes        ln(1 + bytes): length effects are rarely linear
    words            whitespace-separated tokens
    mean_word_bytes  bytes / words (keyboard mash and alnum strings have long "words")
    frac_letter      letters (Unicode, str.isalpha) / characters
    frac_digit       digits / characters
    frac_space       whitespace / characters
    frac_upper       upper-case letters / characters (shouting, mixed-case strings)
    frac_punct       ASCII punctuation / characters
    frac_nonascii    bytes >= 0x80 / bytes (other scripts, accents)
    ends_question    1 if the prompt ends with "?"
    starts_upper     1 if the first character is upper-case
    has_place        1 if a real place name or capital (facts.places(), any case) occurs
    """
    text = prompt.strip()
    raw = text.encode("utf-8")
    n_chars, n_bytes = max(len(text), 1), max(len(raw), 1)
    n_words = len(text.split())
    return np.array([
        len(raw), math.log1p(len(raw)), n_words, len(raw) / max(n_words, 1),
        sum(c.isalpha() for c in text) / n_chars, sum(c.isdigit() for c in text) / n_chars,
        sum(c.isspace() for c in text) / n_chars, sum(c.isupper() for c in text) / n_chars,
        sum(c in _PUNCT for c in text) / n_chars, sum(b >= 0x80 for b in raw) / n_bytes,
        float(text.endswith("?")), float(text[:1].isupper()), float(bool(_place_pattern().search(text))),
    ], dtype=np.float64)


def feature_matrix(prompts: list[str]) -> np.ndarray:
    return np.stack([features(p) for p in prompts]) if prompts else np.zeros((0, len(FEATURES)))


@dataclass(frozen=True)
class SurfaceModel:
    mean: np.ndarray        # training feature means
    scale: np.ndarray       # training feature stds (1 where a feature is constant)
    coef: np.ndarray        # weight per standardised feature
    intercept: float

    def score(self, prompts: list[str]) -> np.ndarray:
        """Logit of P(OOD | features): higher = more OOD."""
        return self._decision(feature_matrix(prompts))

    def _decision(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept

    def coef_dict(self) -> dict[str, float]:
        return {name: float(w) for name, w in zip(FEATURES, self.coef)}


def _objective(beta, xb, y, sw, pen) -> float:
    z = xb @ beta
    return float(sw @ (np.logaddexp(0.0, z) - y * z) + 0.5 * pen @ beta ** 2)


def _newton(xb: np.ndarray, y: np.ndarray, sw: np.ndarray, l2: float, iters: int = 100) -> np.ndarray:
    """argmin of the weighted log-loss + l2/2 ||w||^2 (intercept, the last column, unpenalised)."""
    pen = np.full(xb.shape[1], l2)
    pen[-1] = 0.0
    beta = np.zeros(xb.shape[1])
    f = _objective(beta, xb, y, sw, pen)
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(xb @ beta)))
        grad = xb.T @ (sw * (p - y)) + pen * beta
        hess = (xb * (sw * p * (1 - p))[:, None]).T @ xb + np.diag(pen + 1e-9)
        step, t = np.linalg.solve(hess, grad), 1.0
        while t > 1e-8 and _objective(beta - t * step, xb, y, sw, pen) > f + 1e-12:
            t /= 2
        beta = beta - t * step
        f_new = _objective(beta, xb, y, sw, pen)
        if abs(f - f_new) <= 1e-12 * max(1.0, abs(f)):
            break
        f = f_new
    return beta


def _fit(x: np.ndarray, y: np.ndarray, l2: float = L2) -> SurfaceModel:
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    if n_pos == 0 or n_neg == 0:
        raise TilelliError(f"surface: fitting needs both classes (got {n_neg} in-domain, {n_pos} OOD prompts)")
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    xb = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    sw = np.where(y == 1, len(y) / (2 * n_pos), len(y) / (2 * n_neg))  # class-balanced, sum = n
    beta = _newton(xb, y.astype(np.float64), sw, l2)
    return SurfaceModel(mean, scale, beta[:-1], float(beta[-1]))


def _xy(prompts_in: list[str], prompts_ood: list[str]) -> tuple[np.ndarray, np.ndarray]:
    x = feature_matrix(list(prompts_in) + list(prompts_ood))
    return x, np.r_[np.zeros(len(prompts_in)), np.ones(len(prompts_ood))]


def fit_surface(prompts_in: list[str], prompts_ood: list[str], l2: float = L2) -> SurfaceModel:
    """Fit on training prompts: in-domain (label 0) and OOD (label 1)."""
    return _fit(*_xy(prompts_in, prompts_ood), l2)


def cv_auroc(prompts_in: list[str], prompts_ood: list[str], folds: int = CV_FOLDS, seed: int = 0,
             l2: float = L2) -> float:
    """AUROC of the pooled out-of-fold scores of a stratified `folds`-fold cross-validation."""
    x, y = _xy(prompts_in, prompts_ood)
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=int)
    for cls in (0, 1):
        idx = rng.permutation(np.flatnonzero(y == cls))
        fold[idx] = np.arange(len(idx)) % folds
    oof = np.empty(len(y))
    for k in range(folds):
        test = fold == k
        oof[test] = _fit(x[~test], y[~test], l2)._decision(x[test])
    return auroc(y.astype(int), oof)


def check_probe_disjoint(probe_prompts: list[str], training_prompts: set[str]) -> None:
    shared = [p for p in probe_prompts if p in training_prompts]
    if shared:
        raise TilelliError(f"surface: {len(shared)} probe prompt(s) occur in the training prompts, "
                           f"e.g. {shared[0]!r}; the baseline must never see the probe")


def contrast_aurocs(rows: list[dict], key: str) -> dict[str, float]:
    """AUROC of rows[key] (higher = more OOD) for every contrast of regimes.CONTRASTS."""
    out = {}
    for c in CONTRASTS:
        keep, y = contrast_rows(rows, c)
        out[c] = auroc(y, [r[key] for r in keep])
    return out


def probe_surface(probe_rows: list[dict], prompts_in: list[str], prompts_ood: list[str]) -> tuple[list[dict], dict]:
    """Fit on the training prompts, score the probe: (rows, metrics) for stages/surface.py.

    rows: {"id", "regime", "surface", "byte_length"} per probe prompt (byte_length: the framed
    chat turn, as the probe feeds it). metrics: features, standardised coefficients, training
    sizes and CV AUROC, and the probe AUROC per contrast of `surface` and of byte_length alone
    (so a reader sees which regimes are length-defined).
    """
    prompts = [r["prompt"] for r in probe_rows]
    check_probe_disjoint(prompts, set(prompts_in) | set(prompts_ood))
    model = fit_surface(prompts_in, prompts_ood)
    rows = [{"id": r["id"], "regime": r["regime"], "surface": float(s),
             "byte_length": len(format_prompt(r["prompt"]).encode("utf-8"))}
            for r, s in zip(probe_rows, model.score(prompts))]
    metrics = {
        "features": list(FEATURES), "coef": model.coef_dict(), "intercept": model.intercept, "l2": L2,
        "train": {"n_in": len(prompts_in), "n_ood": len(prompts_ood),
                  "cv_auroc": cv_auroc(prompts_in, prompts_ood)},
        "probe_overlap": 0,
        "probe_auroc": {"surface": contrast_aurocs(rows, "surface"),
                        "byte_length": contrast_aurocs(rows, "byte_length")},
    }
    return rows, metrics


# ---- Familiarity ---------------------------------------------------------------------------------
NN = "nn_char4"
NGRAM_LR = "ngram_lr"
NAMES = (NN, NGRAM_LR)
NN_ORDER = 4
LR_ORDERS = (1, 2, 3, 4)
HASH_BITS = 18
# L2: the surface baseline's regularisation (1.0, above), shared by ngram_lr
DECIMALS = 9  # outputs rounded to 1e-9 (BLAS-kernel independence)


def char_grams(text: str, orders=(NN_ORDER,)) -> Counter:
    """Counts of the overlapping character n-grams of `text` for each n in `orders`.

    A text shorter than n contributes itself as its one n-gram (so "" and "hi" still have a vector).
    """
    out: Counter = Counter()
    for n in orders:
        out.update([text[i:i + n] for i in range(len(text) - n + 1)] if len(text) >= n else [text])
    return out


# ---------------------------------------------------------------------------------------------
# nn_char4: nearest-neighbour familiarity
# ---------------------------------------------------------------------------------------------
def _unit_rows(counts: list[Counter], vocab: dict[str, int]) -> tuple[sparse.csr_matrix, np.ndarray]:
    """(rows over `vocab`, full L2 norms): grams outside `vocab` count in the norm only."""
    data, cols, ptr, norms = [], [], [0], []
    for c in counts:
        norms.append(np.sqrt(sum(v * v for v in c.values())))
        for g, v in c.items():
            j = vocab.get(g)
            if j is not None:
                cols.append(j)
                data.append(float(v))
        ptr.append(len(cols))
    m = sparse.csr_matrix((np.array(data), np.array(cols, dtype=np.int64), np.array(ptr)),
                          shape=(len(counts), len(vocab)))
    return m, np.asarray(norms, dtype=np.float64)


def nn_similarity(prompts: list[str], training: list[str]) -> np.ndarray:
    """Largest cosine similarity of each prompt's character-4-gram counts to any training prompt, in [0, 1]."""
    train = sorted(set(training))  # duplicates cannot change a maximum
    if not train:
        raise TilelliError("nn_char4: no training prompts to compare with")
    train_counts = [char_grams(t) for t in train]
    vocab = {g: j for j, g in enumerate(sorted({g for c in train_counts for g in c}))}
    t_mat, t_norm = _unit_rows(train_counts, vocab)
    p_mat, p_norm = _unit_rows([char_grams(p) for p in prompts], vocab)
    dots = (p_mat @ t_mat.T).toarray()  # integer counts: exact sums
    sim = dots / np.maximum(p_norm[:, None] * t_norm[None, :], 1e-300)
    return np.clip(np.round(sim.max(axis=1), DECIMALS), 0.0, 1.0)


def nn_score(prompts: list[str], training: list[str]) -> np.ndarray:
    """The OOD score of nn_char4: 1 - similarity (higher = less familiar = more OOD)."""
    return np.round(1.0 - nn_similarity(prompts, training), DECIMALS)


# ---------------------------------------------------------------------------------------------
# ngram_lr: logistic regression on hashed character n-grams
# ---------------------------------------------------------------------------------------------
def _bucket(gram: str) -> int:
    return zlib.crc32(gram.encode("utf-8")) & ((1 << HASH_BITS) - 1)


def hashed_features(prompts: list[str]) -> sparse.csr_matrix:
    """[n, 2^HASH_BITS + 1]: unit-L2 hashed character 1-4-gram counts, then a constant 1 (the intercept)."""
    data, cols, ptr = [], [], [0]
    for p in prompts:
        buckets: Counter = Counter()
        for g, v in char_grams(p, LR_ORDERS).items():
            buckets[_bucket(g)] += v
        keys = sorted(buckets)
        vals = np.array([buckets[k] for k in keys], dtype=np.float64)
        vals /= np.sqrt(np.sum(vals * vals))
        cols += keys + [1 << HASH_BITS]
        data += vals.tolist() + [1.0]
        ptr.append(len(cols))
    return sparse.csr_matrix((np.array(data), np.array(cols, dtype=np.int64), np.array(ptr)),
                             shape=(len(prompts), (1 << HASH_BITS) + 1))


def _loss(beta, x, y, sw, pen) -> float:
    z = x @ beta
    return float(sw @ (np.logaddexp(0.0, z) - y * z) + 0.5 * pen @ beta ** 2)


def _truncated_newton(x: sparse.csr_matrix, y: np.ndarray, sw: np.ndarray, l2: float,
                      iters: int = 50, tol: float = 1e-10) -> tuple[np.ndarray, int]:
    """argmin of the weighted log-loss + l2/2 ||w||^2 (last column = intercept, unpenalised)."""
    pen = np.full(x.shape[1], l2)
    pen[-1] = 0.0
    xt = x.T.tocsr()
    beta = np.zeros(x.shape[1])
    f = _loss(beta, x, y, sw, pen)
    for it in range(1, iters + 1):
        p = 1.0 / (1.0 + np.exp(-(x @ beta)))
        grad = xt @ (sw * (p - y)) + pen * beta
        gnorm = float(np.sqrt(grad @ grad))
        if gnorm <= tol * len(y):
            return beta, it - 1
        curv = sw * p * (1 - p)
        hv = lambda v: xt @ (curv * (x @ v)) + (pen + 1e-9) * v  # noqa: E731
        # conjugate gradient on H s = grad, to a relative residual of min(0.5, sqrt(|g|))
        s, r = np.zeros_like(grad), grad.copy()
        d, rr = r.copy(), float(r @ r)
        for _ in range(250):
            hd = hv(d)
            a = rr / float(d @ hd)
            s, r = s + a * d, r - a * hd
            rr_new = float(r @ r)
            if np.sqrt(rr_new) <= min(0.5, np.sqrt(gnorm)) * gnorm:
                break
            d, rr = r + (rr_new / rr) * d, rr_new
        t = 1.0
        while t > 1e-8 and _loss(beta - t * s, x, y, sw, pen) > f - 1e-4 * t * float(grad @ s):
            t /= 2
        beta = beta - t * s
        f = _loss(beta, x, y, sw, pen)
    return beta, iters


@dataclass(frozen=True)
class NgramModel:
    beta: np.ndarray     # weight per hash bucket, then the intercept
    iterations: int

    def score(self, prompts: list[str]) -> np.ndarray:
        """Logit of P(OOD | n-grams), rounded to 1e-9: higher = more OOD."""
        return np.round(hashed_features(prompts) @ self.beta, DECIMALS)


def fit_ngram_lr(prompts_in: list[str], prompts_ood: list[str], l2: float = L2) -> NgramModel:
    """Fit on training prompts only: in-domain (label 0) vs OOD (label 1), class-balanced."""
    if not prompts_in or not prompts_ood:
        raise TilelliError(f"ngram_lr: fitting needs both classes (got {len(prompts_in)} in-domain, "
                           f"{len(prompts_ood)} OOD prompts)")
    x = hashed_features(list(prompts_in) + list(prompts_ood))
    y = np.r_[np.zeros(len(prompts_in)), np.ones(len(prompts_ood))]
    sw = np.where(y == 1, len(y) / (2 * len(prompts_ood)), len(y) / (2 * len(prompts_in)))  # sum = n
    beta, it = _truncated_newton(x, y, sw, l2)
    return NgramModel(beta, it)


# ---------------------------------------------------------------------------------------------
# The stage's entry point
# ---------------------------------------------------------------------------------------------
def probe_familiarity(probe_rows: list[dict], prompts_in: list[str], prompts_ood: list[str]) -> tuple[dict, dict]:
    """({nn_char4: scores, ngram_lr: scores} in probe order, metrics) for stages/surface.py.

    metrics: {nn_char4: {index: n distinct chat_train prompts}, ngram_lr: {n_in, n_ood, l2, hash_bits,
    orders, iterations}, probe_auroc: {name: {contrast: AUROC}}}.
    """
    prompts = [r["prompt"] for r in probe_rows]
    check_probe_disjoint(prompts, set(prompts_in) | set(prompts_ood))
    model = fit_ngram_lr(prompts_in, prompts_ood)
    cols = {NN: nn_score(prompts, prompts_in), NGRAM_LR: model.score(prompts)}
    rows = [{"regime": r["regime"], **{k: float(v[i]) for k, v in cols.items()}} for i, r in enumerate(probe_rows)]
    metrics = {
        NN: {"index": len(set(prompts_in)), "order": NN_ORDER, "score": "1 - max cosine to a chat_train prompt"},
        NGRAM_LR: {"n_in": len(prompts_in), "n_ood": len(prompts_ood), "l2": L2, "hash_bits": HASH_BITS,
                   "orders": list(LR_ORDERS), "iterations": model.iterations},
        "probe_auroc": {k: contrast_aurocs(rows, k) for k in NAMES},
    }
    return cols, metrics
