"""Splice: graft the main metacog model's abstain head onto v4, nothing else -> models/splice.

    python -m stages.splice

Tests claim N3 ("train an abstain head once, splice it onto any base"): the probe compares the
head's AUROC on its own base (metacog/<main>-s<first seed>) with its AUROC on v4.
"""
from tilelli.stage import run
from tilelli.train.experiments import splice

if __name__ == "__main__":
    run(splice)
