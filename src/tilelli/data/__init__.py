"""Data: text sources -> packed byte shards; chat, abstain, held-out and probe sets.

    sources.py      download stage: builtin | fineweb-edu | tinystories | local -> corpus.jsonl
    builtin.py      the offline corpus, generated from countryinfo facts (+ simple stories)
    facts.py        the fact table, question phrasings, fictional places
    packing.py      streaming packer -> train.bin / valid.bin (uint8, 0x00 after each document)
    loader.py       open_shard, windows, valid_batches, sft_eval_batches (training samplers: tilelli.train.batches)
    chat_format.py  "USER: {q}\\nTILELLI:" + " {a}\\n", completion-only masks
    splits.py       which facts / fictional places are held out for which set
    sft.py          data/sft/*.jsonl;  prompts.py: data/prompts/probe_210.jsonl;  ood.py: OOD pools
    jsonl.py        re-exports tilelli.io.read_jsonl / iter_jsonl / write_jsonl (old import path)

Nothing here imports `datasets` at module level (only the hub/parquet paths, lazily).
"""
