"""DVC stage scripts, run as `python -m stages.<name>` (or `${launcher} stages.<name>`) from a tree's root.

Importing this package puts THIS tree's `src/` first on sys.path, so a stage runs the library
code next to it, the code DVC hashed as its deps. Without it, `tilelli` resolves to wherever
`pip install -e .` pointed: for a queued experiment (`dvc exp run --queue`, which runs in a copy
under .dvc/tmp/exps) that is the main workspace, whose src/ may have been edited since the
experiment was queued, and dvc.lock would record hashes of code that did not run.
"""
import sys
from pathlib import Path

_SRC = str(Path(__file__).resolve().parents[1] / "src")
if sys.path[:1] != [_SRC]:
    if _SRC in sys.path:
        sys.path.remove(_SRC)
    sys.path.insert(0, _SRC)
