"""Where every pipeline artifact lives, defined once (paths relative to the repository root).

The path half of the study registry (tilelli.study names the models and runs, and lists in
study.outputs(params) every path the DAG declares). Stages and library modules spell no
pipeline path of their own, and dvc.yaml declares exactly study.outputs(params):
tests/test_layout.py checks both. A module of its own, with no import, so that the stages that
only need a path (download, pack, ...) depend on this file and are not re-run by an edit of the
study's model lists.

    model_path("base/v4-s0")        models/base/v4-s0 (model.safetensors, config.json, README.md)
    train_metrics("metacog/v7-s0")  metrics/train/metacog/v7-s0.json
    probe_rows("splice/v7-s0")      data/probe/splice/v7-s0.jsonl
"""

# ---------------------------------------------------------------------------------------------
RAW_DIR = "data/raw"                          # download: corpus.jsonl + manifest.json
CORPUS = f"{RAW_DIR}/corpus.jsonl"
PACKED_DIR = "data/packed"                    # pack: train.bin, valid.bin, meta.json
SFT_DIR = "data/sft"                          # sft_data: <set>_{train,valid}.jsonl
PROMPTS = "data/prompts/probe_210.jsonl"      # prompts: the 210 probe prompts
PROBE_DIR = "data/probe"                      # probe: one row file and one gate file per model
SURFACE_ROWS = f"{PROBE_DIR}/surface.jsonl"   # surface: the prompts' surface and familiarity features
PROBE_TIMING_DIR = "data/probe_timing"        # probe: wall time per model (git-ignored, outside DVC)
MODELS = "models"                             # models/<family>/<run>
METRICS_DIR = "metrics"                       # every metric file (dvc metrics show)
CHECKPOINTS = "checkpoints"                   # resume state per run (git-ignored, outside DVC)
TRAIN_PLOTS = "plots/train"                   # per run: train.csv, eval.csv
TRAIN_METRICS = "metrics/train"               # per run: the training summary
TIMING_DIR = "metrics/timing"                 # per run: tokens/s and wall time (git-ignored)
PARAMS_CHECK = "results/params_check.txt"
NUMERICS = "metrics/numerics.json"            # this machine's numerics fingerprint and settings
MANIFEST = "metrics/data_manifest.json"
SURFACE = "metrics/surface.json"
LR_CHOICE = "metrics/ab_lr.json"              # the A/B's chosen lr per arm
AB_REPORT = "metrics/ab.json"
AB_PLOTS = "plots/ab"
AB_PLOT = f"{AB_PLOTS}/val_bpb.csv"
AUROC = "metrics/auroc.json"
BEHAVIOUR = "metrics/behaviour.json"
SEED_METRICS = "metrics/by_seed"              # per-seed metric roots: each seed's study alone
AUROC_TABLES = "results/auroc"
AUROC_PLOTS = "plots/auroc"
ROUTER_SHIFT = "metrics/router_shift.json"
CLAIMS_MD = "results/claims.md"
CLAIMS_JSON = "metrics/claims.json"
PAPER = "PAPER_OUTLINE.md"


def model_path(name: str) -> str:
    """models/<name>: model.safetensors + config.json + README.md (the model card)."""
    return f"{MODELS}/{name}"


def checkpoint_path(run: str) -> str:
    return f"{CHECKPOINTS}/{run}"


def train_plots(run: str) -> str:
    return f"{TRAIN_PLOTS}/{run}"


def train_metrics(run: str) -> str:
    return f"{TRAIN_METRICS}/{run}.json"


def timing_metrics(run: str) -> str:
    return f"{TIMING_DIR}/{run}.json"


def sft_file(name: str, split: str) -> str:
    """data/sft/<name>_<split>.jsonl (split: train or valid)."""
    return f"{SFT_DIR}/{name}_{split}.jsonl"


def probe_rows(model: str) -> str:
    return f"{PROBE_DIR}/{model}.jsonl"


def probe_gates(model: str) -> str:
    return f"{PROBE_DIR}/{model}.gates.jsonl"


def probe_timing(model: str) -> str:
    return f"{PROBE_TIMING_DIR}/{model}.json"


def seed_metrics_root(seed: int) -> str:
    """The metrics root of seed `seed` alone: <root>/metrics/{auroc,behaviour}.json computed on that
    seed's models only (stages/auroc.py), so a claim can be judged on one replication (verify)."""
    return f"{SEED_METRICS}/s{seed}"


# The figures PAPER_OUTLINE.md embeds (relative links from the repository root, where it lives).
AB_PNG = f"{AB_PLOTS}/val_bpb.png"                      # ab_report: AB_PLOT drawn, Lite vs vanilla
RISK_COVERAGE_PNG = f"{AUROC_PLOTS}/risk_coverage.png"  # auroc: abstain_p risk-coverage of every model


def roc_png(model: str) -> str:
    """plots/auroc/<model>/roc.png: the auroc stage's cross-contrast ROC of every signal."""
    return f"{AUROC_PLOTS}/{model}/roc.png"


def heatmap_png(model: str) -> str:
    """plots/auroc/<model>/heatmap.png: the auroc stage's signal x regime AUROC grid."""
    return f"{AUROC_PLOTS}/{model}/heatmap.png"


# The packed byte shards inside PACKED_DIR (pack writes them; training reads them).
TRAIN_SHARD = f"{PACKED_DIR}/train.bin"
VALID_SHARD = f"{PACKED_DIR}/valid.bin"
