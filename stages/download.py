"""Stage `download`: fetch or generate the pretraining text corpus.

    python -m stages.download                  # reads params.yaml (data.*)
    dvc repro download
    dvc exp run -S data.source=local -S 'data.local_paths=[my/*.parquet]'

Sources (data.source): builtin (default, offline, generated from countryinfo facts),
fineweb-edu and tinystories (Hugging Face streaming, network), local (.jsonl / .parquet).
Writes data/raw/corpus.jsonl + data/raw/manifest.json (atomically: a failure leaves the old
corpus) and the manifest again as metrics/data_manifest.json (git-tracked, `cache: false`),
so `dvc metrics diff` shows when documents / bytes / sha256 of the corpus change.
With no network a hub source fails in seconds with one line naming the offline alternatives.
"""
from __future__ import annotations

import time

from tilelli import io
from tilelli.data.corpus import check_data_params, download
from tilelli.stage import dump_config, log, run, param
from tilelli.paths import MANIFEST, RAW_DIR


def main(params: dict) -> None:
    cfg = param(params, "data")
    log(f"data = {dump_config(cfg)}")
    check_data_params(cfg)
    t0 = time.time()
    manifest = download(cfg, RAW_DIR)
    io.write_json(MANIFEST, manifest)
    log(f"{manifest['source']}: {manifest['documents']:,} documents, {manifest['bytes'] / 1e6:.2f} MB "
        f"of text in {time.time() - t0:.1f}s -> {RAW_DIR}/corpus.jsonl (sha256 {manifest['sha256'][:12]})")


if __name__ == "__main__":
    run(main)
