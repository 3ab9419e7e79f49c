"""Pinned numerics (tilelli/numerics.py): what the pins change, and that the host's CPU choices do not
leak through them. Each fingerprint runs in a fresh interpreter, because ATen, MKL and OpenMP read
their settings once per process."""
import os
import subprocess
import sys

import pytest
import torch

from tilelli import numerics
from tilelli.io import TilelliError

PINS = (numerics.MODE_VAR, numerics.THREADS_VAR, "ATEN_CPU_CAPABILITY", "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS",
        "ONEDNN_MAX_CPU_ISA", "ONEDNN_VERBOSE", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
SCRIPT = ("import tilelli, torch\nfrom tilelli.train.fingerprint import fingerprint\n"
          "print(fingerprint(steps=2), torch.backends.cpu.get_cpu_capability(), torch.get_num_threads(),"
          " torch.backends.mkldnn.enabled)")


def run_fingerprint(**env) -> tuple[str, str]:
    """(fingerprint, 'capability threads onednn') in a fresh process with only `env` set of the pins."""
    base = {k: v for k, v in os.environ.items() if k not in PINS}
    out = subprocess.run([sys.executable, "-c", SCRIPT], env={**base, **env}, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    fp, *rest = lines[-1].split()
    return fp, " ".join(rest), out.stdout + out.stderr


@pytest.fixture(scope="module")
def pinned_default():
    return run_fingerprint()


def test_pinning_takes_effect(pinned_default):
    fp, state, _ = pinned_default
    assert state == "AVX2 2 False"          # ATen AVX2 kernels, 2 threads, oneDNN off
    assert len(fp) == 16


def test_unpinned_weights_follow_the_cpu_capability():
    """Why the pins exist (and that the fingerprint can tell): two ATen kernel paths, two models."""
    a = run_fingerprint(TILELLI_NUMERICS="native", ATEN_CPU_CAPABILITY="default")[0]
    b = run_fingerprint(TILELLI_NUMERICS="native", ATEN_CPU_CAPABILITY="avx2")[0]
    assert a != b


def test_pinned_weights_ignore_the_hosts_isa_and_thread_settings(pinned_default):
    """A host whose MKL may only use AVX2, whose ATen default would be generic, whose oneDNN is capped,
    and whose environment asks for 1 OpenMP thread computes the same weights under the pins."""
    other = run_fingerprint(MKL_ENABLE_INSTRUCTIONS="AVX2", ONEDNN_MAX_CPU_ISA="AVX2", ATEN_CPU_CAPABILITY="default",
                            OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    assert other[0] == pinned_default[0]
    assert other[1] == "AVX2 2 False"


def _intel_host_with_avx512() -> bool:
    """MKL honours MKL_ENABLE_INSTRUCTIONS / MKL_CBWR branches on Intel CPUs only; on an AMD CPU (AVX-512
    or not) it takes its own path whatever they say (measured on an AMD EPYC with AVX-512: same weights)."""
    try:
        info = open("/proc/cpuinfo", encoding="utf-8").read()
    except OSError:
        return False
    return "GenuineIntel" in info and " avx512f " in info.replace("\n", " ")


@pytest.mark.skipif(not _intel_host_with_avx512(), reason="needs an Intel host with AVX-512 (MKL's choice then differs)")
def test_unpinned_mkl_follows_the_hosts_isa():
    """The other side of the test above: without MKL_CBWR, MKL's kernel choice changes the weights."""
    a = run_fingerprint(TILELLI_NUMERICS="native", ATEN_CPU_CAPABILITY="avx2")[0]
    b = run_fingerprint(TILELLI_NUMERICS="native", ATEN_CPU_CAPABILITY="avx2", MKL_ENABLE_INSTRUCTIONS="AVX2")[0]
    assert a != b


def test_thread_count_changes_the_weights(pinned_default):
    """Why the thread count is pinned: 1 and 2 threads split reductions differently."""
    assert run_fingerprint(TILELLI_THREADS="1")[0] != pinned_default[0]


def test_no_onednn_primitive_runs_when_pinned():
    """oneDNN has no CPU-independent mode: pinned training must never reach it (unpinned, the conv does)."""
    assert "primitive,exec" not in run_fingerprint(ONEDNN_VERBOSE="1")[2]
    assert "primitive,exec" in run_fingerprint(TILELLI_NUMERICS="native", ONEDNN_VERBOSE="1")[2]


def test_shift_and_add_conv_equals_onednn_conv():
    """The two implementations of the depthwise causal conv compute the same function."""
    from tilelli.model.layers import CausalDepthwiseConv
    torch.manual_seed(0)
    conv = CausalDepthwiseConv(24, 5)
    u = torch.randn(3, 17, 24)
    saved = torch.backends.mkldnn.enabled
    try:
        torch.backends.mkldnn.enabled = False
        shift = conv(u, None)
        torch.backends.mkldnn.enabled = True
        onednn = conv(u, None)
    finally:
        torch.backends.mkldnn.enabled = saved
    torch.testing.assert_close(shift, onednn, rtol=1e-5, atol=1e-6)
    # and causality: the output at t ignores inputs after t
    v = u.clone()
    v[:, 9:] = 0
    torch.testing.assert_close(conv(v, None)[:, :9], shift[:, :9])


@pytest.mark.parametrize("var, value", [(numerics.MODE_VAR, "pinnned"), (numerics.THREADS_VAR, "two")])
def test_bad_settings_are_one_line_errors(monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    with pytest.raises(TilelliError, match=var):
        numerics.check(torch_loaded=False)


STAGE = """from tilelli.io import write_json
from tilelli.stage import run
from tilelli.train.fingerprint import measure
run(lambda params: write_json("numerics.json", measure()))
"""


def run_numerics_stage(tmp_path, deterministic) -> subprocess.CompletedProcess:
    """A stage (tilelli.stage.run) that records tilelli.train.fingerprint.measure(), as verify does, in
    tmp_path with params {profile: tiny, deterministic: ...}."""
    from pathlib import Path

    import yaml
    root = Path(__file__).resolve().parents[1]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"profile": "tiny", "deterministic": deterministic}))
    (tmp_path / "measure_stage.py").write_text(STAGE)
    env = {k: v for k, v in os.environ.items() if k not in PINS}
    env["PYTHONPATH"] = os.pathsep.join([str(root), str(root / "src"), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "measure_stage.py"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("deterministic, mode", [(True, "pinned"), (False, "native")])
def test_params_deterministic_chooses_the_mode_of_a_stage(tmp_path, deterministic, mode):
    """`deterministic: false` in params re-executes the stage unpinned (the pins must be set before
    torch starts); the numerics record (what verify writes) says which mode ran."""
    import json
    out = run_numerics_stage(tmp_path, deterministic)
    assert out.returncode == 0, out.stderr[-2000:]
    settings = json.loads((tmp_path / "numerics.json").read_text())["settings"]
    assert settings["mode"] == mode and (settings["cpu_capability"] == "AVX2") == deterministic
    assert f"numerics={mode}" in out.stderr


def test_a_non_boolean_deterministic_is_one_line(tmp_path):
    out = run_numerics_stage(tmp_path, "yes")
    assert out.returncode == 2 and out.stderr.strip().splitlines()[-1] == \
        "error: params.yaml: deterministic='yes': expected true or false"
