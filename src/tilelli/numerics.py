"""Pinned floating-point code paths: the same commit gives the same bits on any x86-64 CPU with AVX2.

    import tilelli                      # pins the environment before torch is imported (tilelli/__init__)
    from tilelli import numerics
    numerics.settings()                 # what is pinned, for the provenance header
    tilelli.train.fingerprint.fingerprint()   # a hash of 3 training steps: equal on two machines = same floats

Why. Left to itself, torch picks its CPU kernels per machine: ATen's vectorised kernels follow the
CPU (AVX-512 on an Intel Xeon, AVX2 on an AMD EPYC), MKL's sgemm picks a code branch per CPU, oneDNN
JIT-compiles convolutions and GELU for the host ISA and blocks by its cache sizes, and reductions
split by the thread count. Each choice rounds differently; 600 training steps amplify the last bit
into a different model, so a verdict could depend on which CPU ran it (measured: the tiny pretrain
loss differed from step 12 between the two CPUs this project runs on).

What is pinned (each measured to change the weights after 6 training steps when left free; see
tests/test_numerics.py and README "Determinism"):
- ATEN_CPU_CAPABILITY=avx2: ATen's kernels take their AVX2 path on every CPU that has AVX2.
- MKL_CBWR=AVX2: MKL's conditional-numerical-reproducibility branch for AVX2. Measured here: with
  it, the weights are identical whether MKL may use AVX-512 or only AVX2
  (MKL_ENABLE_INSTRUCTIONS=AVX2); without it they differ. MKL honours this branch only on Intel
  CPUs; elsewhere it falls back silently to its per-CPU AUTO branch, so bit-identity on AMD is
  unproven (the numerics fingerprint shows it). MKL_CBWR=COMPATIBLE, the branch MKL documents for
  non-Intel CPUs too, ran training far slower here (docs/LOG.md), too slow for the default.
- oneDNN off (torch.backends.mkldnn.enabled = False): its JIT kernels have no reproducibility
  mode across CPUs. In fp32 training the model used it for two ops only: the depthwise causal
  conv (which then runs as a k-tap shift-and-add in model/layers.py) and GELU (ATen's kernel instead).
- A fixed intra-op thread count (TILELLI_THREADS, default 2, never the host's core count): MKL and
  ATen split reductions by thread count, and 1, 2, 3 and 4 threads gave four different models.
Not pinned, because it does not matter or is not ours to set: OPENBLAS_CORETYPE (numpy's BLAS:
the surface and n-gram baselines round their outputs far above BLAS noise instead, and a value the
machine sets is never overridden); torch.use_deterministic_algorithms (torch's CPU kernels are
deterministic at a fixed thread count; the flag only guards CUDA and a few scatter ops we do not use).

Opt out for speed with `deterministic: false` in params.yaml (stage.run re-executes the stage with
TILELLI_NUMERICS=native) or TILELLI_NUMERICS=native in the environment: results then depend on
the CPU and its core count. GPUs are not pinned by this module: a CUDA run is reproducible only on
the same GPU model, driver and library versions, and only at the level of verdicts across others.
"""
from __future__ import annotations

import os

MODE_VAR = "TILELLI_NUMERICS"        # "pinned" (default) | "native"
THREADS_VAR = "TILELLI_THREADS"      # intra-op threads when pinned (default 2)
DEFAULT_THREADS = 2
PINNED_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2"}
_overridden: dict[str, str] = {}     # variables the machine had set to something else
_original: dict[str, str | None] = {}  # every pinned variable as it was before pinning (None: unset)


def pinned() -> bool:
    """Anything but "native" pins (a typo never unpins silently: check() rejects it)."""
    return os.environ.get(MODE_VAR, "pinned").strip().lower() != "native"


def threads() -> int:
    raw = os.environ.get(THREADS_VAR, "")
    return int(raw) if raw.isdigit() and int(raw) >= 1 else DEFAULT_THREADS


def pin_environment() -> None:
    """Set the pinned variables (before torch is imported: ATen and MKL read them once)."""
    if not pinned():
        return
    for key, value in PINNED_ENV.items():
        old = os.environ.get(key)
        _original.setdefault(key, old)
        if old is not None and old != value:
            _overridden[key] = old
        os.environ[key] = value


def environ_for(mode: str) -> dict[str, str]:
    """This process's environment for a child in `mode` ("pinned" | "native"): native gets back
    the machine's own values of the pinned variables (pin_environment set them here)."""
    env = dict(os.environ, **{MODE_VAR: mode})
    if mode == "native":
        for key, old in _original.items():
            if old is None:
                env.pop(key, None)
            else:
                env[key] = old
    return env


def configure_torch() -> None:
    """The runtime half (torch imported): oneDNN off and the fixed thread count, when pinned."""
    import torch
    if not pinned():
        return
    torch.backends.mkldnn.enabled = False
    if torch.get_num_threads() != threads():
        torch.set_num_threads(threads())


def settings() -> dict:
    """What this process runs with: the mode, the pinned variables, torch's actual CPU capability."""
    import torch
    out = {"mode": "pinned" if pinned() else "native",
           "cpu_capability": torch.backends.cpu.get_cpu_capability(),
           "threads": torch.get_num_threads(),
           "onednn": bool(torch.backends.mkldnn.enabled)}
    if pinned():
        out["env"] = {k: os.environ.get(k) for k in PINNED_ENV}
        if _overridden:
            out["overridden"] = dict(_overridden)
    return out


def check(torch_loaded: bool = True) -> None:
    """Raise when pinning was asked for but did not take (torch used before tilelli was imported,
    or a CPU without AVX2, where ATen silently falls back to its default kernels)."""
    from tilelli.io import TilelliError
    mode = os.environ.get(MODE_VAR, "pinned").strip().lower()
    if mode not in ("pinned", "native"):
        raise TilelliError(f"{MODE_VAR}={mode!r}: expected 'pinned' or 'native'")
    raw = os.environ.get(THREADS_VAR)
    if raw is not None and not (raw.isdigit() and int(raw) >= 1):
        raise TilelliError(f"{THREADS_VAR}={raw!r}: expected a positive integer")
    if not pinned() or not torch_loaded:
        return
    s = settings()
    if s["cpu_capability"] != "AVX2":
        raise TilelliError(f"pinned numerics need ATen's AVX2 kernels but torch runs {s['cpu_capability']} "
                           f"(a CPU without AVX2, or torch was used before tilelli was imported); "
                           f"set {MODE_VAR}=native to run unpinned (results then depend on the CPU)")
