"""Data: text sources -> packed byte shards; chat, abstain, held-out and probe sets.

    corpus.py       download stage: builtin | fineweb-edu | tinystories | local -> corpus.jsonl;
                    the builtin corpus, generated from countryinfo facts (+ simple stories)
    facts.py        the fact table, question phrasings, fictional places; which facts / fictional
                    places are held out for which set
    packing.py      streaming packer -> train.bin / valid.bin (uint8, 0x00 after each document)
    loader.py       open_shard, windows, valid_batches, sft_eval_batches (training samplers: tilelli.train.recipes)
    chat.py         "USER: {q}\\nTILELLI:" + " {a}\\n", completion-only masks; the SFT sets, data/sft/*.jsonl
    prompts.py      the probe, data/prompts/probe_210.jsonl; the OOD pools (probe and training)

JSONL reading and writing: tilelli.io (read_jsonl / iter_jsonl / write_jsonl).

Nothing here imports `datasets` at module level (only the hub/parquet paths, lazily).
"""
