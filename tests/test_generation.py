"""Generation: cache == recompute, batching, windowing, sampling, stops, streaming."""
import pytest
import torch

from tilelli import TilelliError
from tilelli.model import TilelliLM
from tilelli.model.lm import IncrementalDecoder


TINY = ["tilelli-lite-fp32-tiny", "tilelli-lite-ternary-tiny", "tilelli-fp32-tiny",
        "tilelli-ternary-tiny", "vanilla-fp32-tiny"]
PROMPT = list(b"USER: What is the capital of France?\nTILELLI:")


@pytest.fixture(scope="module")
def models():
    return {name: TilelliLM.from_config(name, seed=0).eval() for name in TINY}


def _step_logits(lm, seqs, steps, use_cache):
    """Greedy-decode `steps` bytes, returning (per-step logits [B, 256] list, final sequences)."""
    decoder, seqs, last, logits = IncrementalDecoder(lm, use_cache), [list(s) for s in seqs], None, []
    with torch.no_grad():
        for _ in range(steps):
            step = decoder.next_logits(seqs, last)
            logits.append(step)
            last = step.argmax(-1).tolist()
            for s, t in zip(seqs, last):
                s.append(t)
    return logits, seqs


@pytest.mark.parametrize("name", TINY)
def test_cached_generation_equals_full_recompute(models, name):
    lm = models[name]
    cached, seq_c = _step_logits(lm, [PROMPT], 24, use_cache=True)
    full, seq_f = _step_logits(lm, [PROMPT], 24, use_cache=False)
    assert seq_c == seq_f
    for a, b in zip(cached, full):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    # and the recompute path is the plain forward pass
    reference = lm(torch.tensor([seq_f[0][:-1]])).logits[0, -1]
    torch.testing.assert_close(full[-1][0], reference, atol=1e-5, rtol=1e-5)
    assert lm.generate(PROMPT, 24) == lm.generate(PROMPT, 24, use_cache=False) == seq_c[0]


@pytest.mark.parametrize("name", ["tilelli-lite-fp32-tiny", "tilelli-ternary-tiny", "vanilla-fp32-tiny"])
def test_batched_prompts_of_different_lengths_equal_one_by_one(models, name):
    lm = models[name]
    prompts = [list(b"Hi"), PROMPT, list(b"Once upon a time there was")]
    for use_cache in (True, False):
        batched = lm.generate(prompts, 16, use_cache=use_cache)
        assert batched == [lm.generate(p, 16, use_cache=use_cache) for p in prompts]


def test_window_slides_past_the_context():
    """Prompts longer than max_seq are windowed (last max_seq bytes); no crash; cache == recompute."""
    lm = TilelliLM.from_config("tilelli-fp32-tiny", max_seq=32, seed=0).eval()
    long_prompt = list(range(65, 91)) * 3                               # 78 bytes > 32
    cached = lm.generate(long_prompt, 12)
    assert len(cached) == len(long_prompt) + 12 and cached[:78] == long_prompt
    assert cached == lm.generate(long_prompt, 12, use_cache=False)
    tail = lm.generate(long_prompt[-32:], 1)
    assert cached[78] == tail[32]                                       # only the window matters
    growing = lm.generate([1, 2, 3], 40)                                # crosses max_seq mid-way
    assert growing == lm.generate([1, 2, 3], 40, use_cache=False)
    mixed = lm.generate([long_prompt, [5, 6]], 6)
    assert mixed == [lm.generate(long_prompt, 6), lm.generate([5, 6], 6)]


def test_seeded_sampling(models):
    lm = models["tilelli-lite-fp32-tiny"]
    rng = torch.get_rng_state()
    a = lm.generate(PROMPT, 20, temperature=1.0, top_k=50, top_p=0.9, seed=7)
    b = lm.generate(PROMPT, 20, temperature=1.0, top_k=50, top_p=0.9, seed=7)
    c = lm.generate(PROMPT, 20, temperature=1.0, seed=8)
    assert a == b and a != c
    assert torch.equal(torch.get_rng_state(), rng)                      # global RNG untouched
    batch = lm.generate([PROMPT, list(b"Hello")], 20, temperature=1.0, top_k=50, top_p=0.9, seed=7)
    assert batch[0] == a                                                # per-row generators
    greedy = lm.generate(PROMPT, 20)
    assert lm.generate(PROMPT, 20, temperature=0.7, top_k=1, seed=1) == greedy
    assert lm.generate(PROMPT, 20, temperature=0.7, top_p=1e-6, seed=1) == greedy


def test_stop_sequences_cut_output_and_stream(models):
    lm = models["tilelli-lite-ternary-tiny"]
    new = lm.generate(PROMPT, 30)[len(PROMPT):]
    stop = new[6:8]
    first = next(i for i in range(len(new) - 1) if new[i:i + 2] == stop)
    streamed = []
    out = lm.generate(PROMPT, 30, stop=[bytes(stop), b"\x00\x00\x00"], callback=streamed.append)
    assert out == PROMPT + new[:first]
    assert streamed == new[:first]                                      # held-back prefix not leaked
    streamed = []
    assert lm.generate(PROMPT, 30, callback=streamed.append) == PROMPT + new
    assert streamed == new


def test_generation_restores_mode_and_validates(models):
    lm = models["vanilla-fp32-tiny"]
    lm.train()
    assert lm.generate([1, 2, 3], 0) == [1, 2, 3]
    lm.generate([1, 2, 3], 2)
    assert lm.training
    lm.eval()
    for bad in (dict(prompt=[]), dict(prompt=[1, 300]), dict(prompt=[1], max_new=-1),
                dict(prompt=[1], temperature=-1.0), dict(prompt=[1], top_p=0.0),
                dict(prompt=[[1], [2]], callback=print)):
        args = dict(max_new=3) | bad
        with pytest.raises(TilelliError):
            lm.generate(args.pop("prompt"), **args)
