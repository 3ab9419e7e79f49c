"""Distance-to-training baselines: how far "have I seen this phrasing?" alone separates the probe.

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
line search) from zero: deterministic, no random start, sparse, ~2 s on 3,600 prompts. The
objective is strictly convex, so the fit converges to its unique minimum on any CPU; the scores
(logits) are rounded to 1e-9 so that the last bits of BLAS reductions cannot change the file.
"""
from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from tilelli.errors import TilelliError
from tilelli.eval.surface import check_probe_disjoint, contrast_aurocs

NN = "nn_char4"
NGRAM_LR = "ngram_lr"
NAMES = (NN, NGRAM_LR)
NN_ORDER = 4
LR_ORDERS = (1, 2, 3, 4)
HASH_BITS = 18
L2 = 1.0
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
