"""The `surface` baseline: how far trivial prompt features alone separate in-domain from OOD.

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
"""
from __future__ import annotations

import math
import re
import string
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from tilelli.data.chat import format_prompt
from tilelli.errors import TilelliError
from tilelli.eval.regimes import CONTRASTS, contrast_rows
from tilelli.eval.stats import auroc

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
