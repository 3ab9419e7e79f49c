"""PAPER_OUTLINE.md, rendered from the pipeline's metrics so that every number in it is measured.

    python -m stages.paper            # the `paper` DVC stage, after every metric exists

The prose around the tables states the design (which does not depend on the run); every figure
is read from metrics/*.json, params.yaml or claims.yaml at render time. The claim table is the
one `verify` writes (tilelli.eval.claims): each published claim, its rule from the publication,
this run's CI, the verdict and the verdict pre-registered for the profile.
Metric files are read strictly (a missing file is an error: the stage runs after all of them);
a key a metric file lacks renders as "n/a". The figures beside the tables are the pipeline's own
plot files (`figures`), linked, never copied; a missing one is an error too, never a broken link.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

from tilelli.eval.claims import claims_table, headline, judge_study, load_claims
from tilelli.eval.regimes import CONTRASTS, CONTROLS, OOD_REGIMES, REPORTED
from tilelli.eval.auroc_report import auroc_cell, auroc_table, familiarity_section, fmt, md_table
from tilelli.io import TilelliError, read_json
from tilelli.study import (BASE_CHAIN, base_step, metacog_variants, ranked_variants, splice_dir, study_seeds,
                           v4_dir, variant_dir, weight0_variant)
from tilelli.paths import (AB_PLOT, AB_PNG, AB_REPORT, AUROC, BEHAVIOUR, MANIFEST, METRICS_DIR, PAPER,
                           RISK_COVERAGE_PNG, ROUTER_SHIFT, SURFACE, heatmap_png, roc_png, train_metrics)

METRICS = {"auroc": AUROC, "behaviour": BEHAVIOUR, "shift": ROUTER_SHIFT,
           "ab": AB_REPORT, "manifest": MANIFEST, "surface": SURFACE}


def _get(d: dict | None, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _pm(summary: dict | None, nd: int = 3) -> str:
    if not summary or summary.get("mean") is None:
        return "n/a"
    return f"{summary['mean']:.{nd}f} ± {summary.get('std') or 0:.{nd}f}"


def _rate(r: dict | None) -> str:
    return "n/a" if not r else f"{r['hits']}/{r['n']} ({fmt(r['rate'])})"


def _delta(c: dict | None, nd: int = 3) -> str:
    if not c or c.get("delta") is None:
        return "n/a"
    return f"{c['delta']:+.{nd}f} [{fmt(c.get('lo'), nd)}, {fmt(c.get('hi'), nd)}]"


def training_table(params: dict) -> str:
    """The base chain of every seed: one row per stage, validation bits/byte per seed."""
    seeds = study_seeds(params)
    rows = []
    for stage, _ in BASE_CHAIN:
        ms = [read_json(train_metrics(base_step(stage, s)[1])) for s in seeds]
        rows.append([stage, str(ms[0].get("steps", "n/a")), f"{ms[0].get('tokens', 0):,}",
                     ", ".join(fmt(m.get("val_bpb"), 3) for m in ms)])
    return md_table(["stage", "steps", "tokens seen", f"validation bits/byte (seeds {', '.join(map(str, seeds))})"], rows)


def variants_table(params: dict, auroc: dict, shift: dict) -> str:
    mc = params["metacog"]
    ranked = ranked_variants(params)
    rows = [["v4 (base)", "-", "-", "-", auroc_cell(_get(auroc, "groups", "v4", "abstain_p", "cross")),
             _delta(_get(auroc, "groups", "v4", "vs_surface", "abstain_p", "cross")), "0",
             _pm(_get(shift, "v4", "chat_bpb")), _pm(_get(shift, "v4", "loop_rate"), 2)]]
    for v in metacog_variants(params):
        r, s = mc["recipes"][v], shift.get(v, {})
        name = v if v in ranked else f"{v} (control)"
        rows.append([name, f"{r['weight']:g}", r["trainable"], r["data"],
                     auroc_cell(_get(auroc, "groups", v, "abstain_p", "cross")),
                     _delta(_get(auroc, "groups", v, "vs_surface", "abstain_p", "cross")),
                     _pm(s.get("kl_mean"), 4), _pm(s.get("chat_bpb")), _pm(s.get("loop_rate"), 2)])
    return md_table(["model", "metacog weight", "trains", "data",
                     f"abstain_p cross AUROC (mean over {len(study_seeds(params))} seeds [95% CI])",
                     "abstain_p minus surface", "router KL to its own v4", "chat bits/byte", "loop rate"], rows)


def v4_table(auroc: dict) -> str:
    m = _get(auroc, "groups", "v4")
    if not m:
        return "_metrics/auroc.json has no v4 entry yet._\n"
    return auroc_table(m)


def controls_table(auroc: dict, params: dict) -> str:
    """Per regime: what prompt length and trivial features alone separate, beside the best heads."""
    v4 = _get(auroc, "groups", "v4") or {}
    heads = [("v4 max_softmax_mean", _get(v4, "max_softmax_mean"))]
    for g in (params["metacog"]["main"], weight0_variant(params), "splice"):
        heads.append((f"{g} abstain_p", _get(auroc, "groups", g, "abstain_p")))
    rows = [[c, *[auroc_cell(_get(v4, c, k)) for k in CONTRASTS]] for c in CONTROLS]
    rows += [[label, *[auroc_cell(_get(t, k)) for k in CONTRASTS]] for label, t in heads]
    return md_table(["signal"] + list(CONTRASTS), rows)


def familiarity_verdict(auroc: dict) -> str:
    """One sentence: how many heads beat the strongest baseline after Holm, how many fall below it."""
    controls = _get(auroc, "summary", "familiarity", "controls") or {}
    name = _get(auroc, "summary", "familiarity", "baseline", "name")
    if not controls or not name:
        return "No familiarity controls were computed."
    above = [h for h, c in controls.items() if c.get("lo") is not None and c["lo"] > 0]
    below = [h for h, c in controls.items() if c.get("hi") is not None and c["hi"] < 0]
    rest = [h for h in controls if h not in above + below]
    return (f"Once familiarity is controlled for, {len(above)} of {len(controls)} heads separate in-domain from "
            f"pooled OOD better than `{name}` ({', '.join(above) or 'none'}); {len(below)} do worse "
            f"({', '.join(below) or 'none'}); {len(rest)} cannot be told apart from it ({', '.join(rest) or 'none'}).")


def splice_table(auroc: dict) -> str:
    c = _get(auroc, "summary", "contrasts", "splice_vs_joint") or {}
    per_seed = c.get("per_seed") or []
    rows = [[f"seed {i}", _delta(s)] for i, s in enumerate(per_seed)]
    rows.append([f"pooled over {c.get('n_seeds', len(per_seed))} seeds", _delta(c)])
    return md_table(["splice minus own base (abstain_p, cross)", "delta [95% CI]"], rows)


def ab_section(ab: dict) -> str:
    if not ab:
        return "_metrics/ab.json not written yet._\n"
    sweep, chosen = ab.get("sweep") or {}, ab.get("chosen_lr") or {}
    lrs = sorted({float(lr) for arm in sweep.values() for lr in arm})
    sweep_rows = [[arm] + [fmt(_get(sweep, arm, str(lr)) if _get(sweep, arm, str(lr)) is not None
                               else _get(sweep, arm, repr(lr)), 3) for lr in lrs] + [f"{chosen.get(arm, 'n/a')}"]
                  for arm in sweep]
    final = [["Lite", f"{ab['lite_params']:,}", ", ".join(f"{v:.4f}" for v in ab["lite_bpb"]),
              f"{ab['mean_a']:.4f} ± {ab['lite_std']:.4f}"],
             ["vanilla", f"{ab['vanilla_params']:,}", ", ".join(f"{v:.4f}" for v in ab["vanilla_bpb"]),
              f"{ab['mean_b']:.4f} ± {ab['vanilla_std']:.4f}"]]
    plateau = ab.get("plateau") or {}
    plat = "; ".join(f"{arm}: {fmt(p.get('bpb_half'), 3)} at step {p.get('step_half')} -> {fmt(p.get('bpb_end'), 3)} "
                     f"at step {p.get('step_end')}" for arm, p in plateau.items())
    conv = "; ".join(f"{arm}: {fmt(c.get('drop_last_quarter'), 3)} from step {c.get('step_from')} to {c.get('step_end')}"
                     for arm, c in (ab.get("convergence") or {}).items())
    edge = [arm for arm, e in (ab.get("lr_at_edge") or {}).items() if e]
    return ("Learning-rate sweep (one seed, full length; final validation bits/byte):\n\n"
            + (md_table(["arm"] + [f"lr {lr:g}" for lr in lrs] + ["chosen"], sweep_rows) if sweep else "n/a\n")
            + ("\n" + (f"Chosen at the edge of the grid for {', '.join(edge)}: the grid may not bracket its optimum.\n"
                       if edge else "Both chosen learning rates lie inside the grid.\n"))
            + "\nEvery seed at its arm's chosen learning rate:\n\n"
            + md_table(["arm", "parameters", "validation bits/byte per seed", "mean ± std"], final)
            + f"\nWelch's t = {ab['t']:.2f} (df {ab['df']:.1f}), p = {ab['p']:.3g}; Hedges' g = {ab['hedges_g']:.2f}; "
              f"parameter ratio Lite/vanilla = {ab['param_ratio']:.3f}; {ab.get('steps', 'n/a')} steps, "
              f"{ab.get('tokens', 0):,} tokens per run. Half-way vs end (mean over seeds): {plat or 'n/a'}. "
              f"Still improving over the last quarter (bits/byte, mean over seeds; N2 needs <= 0.01 per arm "
              f"to call the race converged): {conv or 'n/a'}. "
              f"Curves below (data: `{AB_PLOT}`, also in `dvc plots show`).\n")


def _figure(path: str, title: str, note: str) -> str:
    """A markdown image of one plot file, linked relative to the outline, with its caption below."""
    if not Path(path).is_file():
        raise TilelliError(f"{path}: figure not found ({PAPER} embeds it; `dvc repro paper` draws it first)")
    return f"![{title}]({Path(os.path.relpath(path, Path(PAPER).parent)).as_posix()})\n\n*{title}: {note}.*\n"


def figures(params: dict) -> dict[str, str]:
    """{name: markdown} of every figure the outline embeds (dvc.yaml's paper stage depends on them).

    The per-model figures show the first seed's models, one whole replication; the tables beside
    them pool every seed. v4, the main variant's head on its own base, and that head spliced onto v4."""
    seed, main = study_seeds(params)[0], params["metacog"]["main"]
    v4, head, splice = v4_dir(seed), variant_dir(main, seed), splice_dir(main, seed)
    alone = f"seed {seed} alone; the tables pool every seed"
    return {k: _figure(*fig) for k, fig in {
        "risk_coverage": (RISK_COVERAGE_PNG, "abstain_p risk-coverage", "every probed model answers the lowest "
                          "abstain_p first; risk = answered prompts that expected abstain; AURC in the legend"),
        "v4_heatmap": (heatmap_png(v4), f"AUROC of {v4}", f"each signal, in-domain vs each regime, with its 95% "
                       f"bootstrap CI ({alone})"),
        "v4_roc": (roc_png(v4), f"ROC of {v4}", f"each signal, in-domain vs all OOD ({alone})"),
        "head_roc": (roc_png(head), f"ROC of {head}", f"the joint head on its own base ({alone})"),
        "splice_roc": (roc_png(splice), f"ROC of {splice}", f"the same head spliced onto {v4} ({alone})"),
        "ab": (AB_PNG, "Lite vs vanilla", "validation bits/byte against tokens seen, each arm at its chosen "
               "learning rate (each seed thin, the mean over seeds bold)"),
    }.items()}


def _ci_halfwidth(auroc: dict) -> str:
    widths = [(c["hi"] - c["lo"]) / 2 for s in REPORTED for k in OOD_REGIMES
              for c in [_get(auroc, "groups", "v4", s, k)] if c and c.get("lo") is not None and not math.isnan(c["lo"])]
    return f"{sum(widths) / len(widths):.3f}" if widths else "n/a"


def render(params: dict, claims_path: str = "claims.yaml", header: str = "") -> str:
    profile = params["profile"]
    m = {k: read_json(p) for k, p in METRICS.items()}
    auroc, beh, shift, ab, manifest = m["auroc"], m["behaviour"], m["shift"], m["ab"], m["manifest"]
    fig = figures(params)
    claims = load_claims(claims_path)
    own, of = judge_study(claims, params)   # verify's judgement, "each seed alone" column included
    verdicts = f"**{headline(own, profile, of)}.**"
    gates = _get(beh, "groups", "v4", "gates") or {}
    mc = params["metacog"]
    n4 = shift.get("n4") or {}
    surface_cv = _get(m["surface"], "train", "cv_auroc")
    return f"""# Where does a small routed LM keep its uncertainty? A re-derivation of the Tilelli study

_Rendered by `python -m stages.paper` from `{METRICS_DIR}/`, `params.yaml` and `claims.yaml`
(profile **{profile}**). Do not edit by hand: every number below is read from the pipeline's
outputs; the prose lives in `src/tilelli/eval/paper.py`._

{header}## 1. Question

Can a ~10M-parameter byte-level language model with a per-token router tell, from its own
signals, when an input is outside what it knows? The published study (Tilelli kit v0.1.0)
reported that it cannot from the router (N1), that a jointly trained abstain head can but does
not survive being moved to another base (N3), and that even a metacognition weight of 0 moves
the router (N4). We rebuild every model and number of that study from scratch.

## 2. Setup

- Corpus: source `{manifest.get('source', 'n/a')}`, {manifest.get('documents', 'n/a')} documents,
  {manifest.get('bytes', 0):,} bytes (sha256 `{str(manifest.get('sha256', ''))[:16]}`).
- Model: `{params['model']['name']}` (routed Lite block: local causal conv, sparse top-k
  attention, FFN, mixed per token by a softmax router; byte vocabulary 256).
- Chat format `USER: ...\\nTILELLI: ...`; abstain template `{params['sft']['abstain_template']}`.
- Probe: 210 prompts, 30 in each of 7 regimes; {params['probe']['gen_bytes']} greedy bytes per prompt.
  Every framed prompt plus its generated bytes fits in the positions pretraining trained
  (pretrain seq_len {params['pretrain']['seq_len']}; tested). The OOD prompts come from templates
  and generators the metacog variants never trained on (the gibberish from different generators),
  and neo_false_inability asks about places as well known as in_domain's.
- AUROC with {params['auroc']['bootstrap']} stratified bootstrap resamples (95% CI); claims about a
  v4, metacog variant or the splice pool its {len(study_seeds(params))} seeds (mean AUROC, CI from a two-level
  bootstrap over seeds and prompts). Each seed is a whole replication: its own pretrain -> chat SFT
  -> abstain SFT base (v4), and that seed's variants and splice fine-tuned from it.

{training_table(params)}
## 3. The metacognition variants

Each variant seed starts from that seed's v4 and is a recipe: a metacognition weight w on BCE(router_conf,
in-domain) with router_conf = 1 - H(router)/ln P averaged over layers and prompt bytes, which
parameters train, and on which data (`raw_text`: corpus windows as in-domain and OOD texts
without the chat frame; `chat_vs_ood`: in-domain chat and unanswerable pairs with CE, OOD prompts
without; `in_domain_subset`: CE on a fixed subset of the in-domain pairs). Where the abstain head
trains, its BCE has weight {mc['bce_weight']:g}. `{mc['main']}` is the main joint model
(`metacog_weight`); `{n4.get('control', 'the control')}` is our control for N4 (v8b's training with the
router frozen); it is trained and probed but not ranked. Published v5 fine-tuned the router for
500 steps; the tiny profile trains every variant for {mc['train']['steps']} steps.

{variants_table(params, auroc, shift)}
{fig['risk_coverage']}
## 4. Results

### 4.1 v4: AUROC of each signal, in-domain vs each regime (mean over the base seeds)

Positive class = OOD; each signal has a fixed orientation (confidence signals negated).
router_entropy_mean is not shown: it is a monotone transform of router_conf (identical AUROCs).

{v4_table(auroc)}
{fig['v4_heatmap']}
{fig['v4_roc']}
Held-out behaviour of v4 (every base seed, pooled): abstained on {_rate(gates.get('idk_heldout', {}).get('abstained'))} held-out
unanswerable prompts; refused {_rate(gates.get('false_inability', {}).get('refused'))} answerable
near-miss prompts.

### 4.2 Controls: what the prompt alone gives away (beyond the published study)

The published study compares signals with each other. We add prompt-only controls:
`byte_length`; `surface`, a logistic regression on trivial prompt features (length,
character classes, punctuation, whether a known place name occurs) fitted on the metacog
training prompts only (5-fold CV AUROC there {fmt(surface_cv, 3)}) and never on the probe; and two
distance-to-training baselines: `nn_char4`, 1 minus the largest character-4-gram cosine similarity
of the prompt to any chat training prompt (no fitting), and `ngram_lr`, a logistic regression on
hashed character 1-4-grams fitted on the same training prompts as `surface`. A signal that does no
better than these is no evidence that the model knows what it does not know: it may only
recognise the phrasings it was trained on.

{controls_table(auroc, params)}
{familiarity_section(_get(auroc, "summary", "familiarity"))}
{familiarity_verdict(auroc)}

### 4.3 The splice

One splice per seed: that seed's v4 with the abstain head of `metacog/{mc['main']}-s<seed>`, compared with that
head on its own base over the same 210 prompts.

{splice_table(auroc)}
{fig['head_roc']}
{fig['splice_roc']}
### 4.4 N4: does the router move without the metacognition loss?

Routing KL to each seed's own v4 on held-out chat text: v8b {fmt(n4.get('kl_v8b'), 4)} nats/token against
{fmt(n4.get('kl_control'), 4)} for the same training with the router frozen (the representation
below the router still moves); paired by seed (same seed and start), difference {_delta(n4, 4)}
(two-sided 95% paired t-interval), two-sided p = {fmt(n4.get('p'), 3)}.

### 4.5 Lite vs vanilla at equal parameters and equal tuning effort

{ab_section(ab)}
{fig['ab']}
## 5. Claims: this run against the published study

{verdicts} Each claim has one rule taken from the publication (the same for
every profile); the verdict compares this run's 95% CI with the rule's boundary, and the
expected verdict for the {of} profile is pre-registered in `claims.yaml` with its reason.
A NOT REPRODUCED at tiny scale is a finding about the tiny setting, not evidence against the
published one; `dvc exp run -S profile=paper` runs the same code at the published scale.

{claims_table(own)}
## 6. Threats to validity

- n = 30 prompts per regime: the mean 95% CI half-width of v4's per-regime AUROCs here is
  {_ci_halfwidth(auroc)}; two independent AUROCs must differ by roughly twice that to be told apart.
  Paired comparisons (DeLong, paired bootstrap) on the same prompts are tighter, and Holm
  corrects the family of tests.
- The tiny profile trains ~1M-parameter models for minutes on a templated corpus generated
  from `countryinfo` facts; trivial prompt features already separate most OOD regimes (4.2).
- long_input is length-defined by design (byte_length AUROC in 4.2); read its column as a
  length effect as much as a novelty effect.
- The probe prompts are generated by a deterministic script; a different generator (or the
  published prompt file) would change every AUROC.
- Seeds: {len(study_seeds(params))} whole replications (base chain, variants, splice) and {len(params['ab']['seeds'])} per A/B arm. Welch's test
  with 3 seeds per arm detects only gaps of about 3.5 standard deviations, so "no difference" (N2)
  is decided by an equivalence test (TOST within +-0.01 bits/byte), never by p >= 0.05.
- The tiny A/B compares how fast each arm learns in {ab.get('steps', 'n/a')} steps, not where it converges.
"""
