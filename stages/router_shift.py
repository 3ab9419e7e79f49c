"""Router shift and generation quality of every metacog variant against its own base (claim N4).

    python -m stages.router_shift

Reads models/base/v4-s<seed> and models/metacog/<variant>-s<seed> (the explicit list of
tilelli.study; variant seed s is compared with base/v4-s<s>, the model it was fine-tuned from), the
held-out chat text data/sft/chat_valid.jsonl and metrics/behaviour.json (probe loop and refusal
rates). Writes metrics/router_shift.json: per model base, kl_per_layer, kl_mean, chat_bpb, loop_rate,
refusal_rate_answerable; per group (v4 and each variant) the same summarised over seeds (mean, std,
min, max, n);
`n4`: the weight-0 variant against its router-frozen control (params metacog.n4), paired by seed
(each pair shares seed and base): kl_v8b, kl_control, ratio, delta (mean per-seed difference),
per_seed, lo, hi (two-sided 95% paired t-interval), p (the matching two-sided p), test, n_pairs.
"""

from tilelli.io import read_json, read_jsonl, write_json
from tilelli.eval.probe import router_shift
from tilelli.stage import log, run, param
from tilelli.study import BASE_GROUP, base_models, metacog_groups, model_bases, n4_pair
from tilelli.paths import BEHAVIOUR, ROUTER_SHIFT, model_path, sft_file


def main(params: dict) -> None:
    from tilelli.model import TilelliLM

    groups, n4 = {BASE_GROUP: base_models(params), **metacog_groups(params)}, n4_pair(params)
    names = [m for members in groups.values() for m in members]
    bases = model_bases(params)
    models = {n: TilelliLM.from_pretrained(model_path(n)) for n in names}
    behaviour = read_json(BEHAVIOUR)
    rows = read_jsonl(sft_file("chat", "valid"))
    result = router_shift(models, {n: bases[n] for n in names}, rows, param(params, "metacog.train.seq_len"),
                          param(params, "probe.batch_size"), behaviour, groups, n4)
    write_json(ROUTER_SHIFT, result)
    for v in groups:
        g = result[v]
        log(f"[router_shift] {v}: KL to its base {g['kl_mean']['mean']:.4f} +- {g['kl_mean']['std']:.4f}, "
            f"chat bpb {g['chat_bpb']['mean']:.3f}, loops in the turn {g.get('loop_rate', {}).get('mean')}")
    r = result["n4"]
    f = lambda v: "n/a" if v is None else f"{v:.4g}"  # noqa: E731 (p, lo, hi are None below 2 seeds)
    log(f"[router_shift] N4: {n4[0]} KL {r['kl_v8b']:.4f} vs {n4[1]} {r['kl_control']:.4f}: "
        f"delta {r['delta']:.4f} [{f(r['lo'])}, {f(r['hi'])}], paired t over seeds, two-sided p {f(r['p'])}")


if __name__ == "__main__":
    run(main)
