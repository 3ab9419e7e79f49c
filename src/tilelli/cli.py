"""The `tilelli` command line: model zoo, checkpoint info, generation and chat.

    tilelli info --configs                              named configs with parameter counts
    tilelli info --model models/base/v4-s0              stored config, parameters, metadata
    tilelli generate --model models/base/v4-s0 --prompt "Once upon a time" --max-new 128 \\
        [--temperature 0.8 --top-k 40 --top-p 0.95 --seed 0 --stop "\\n" --no-cache]
    tilelli chat --model models/base/v4-s0 "What is the capital of France?"    one question
    tilelli chat --model models/base/v4-s0              interactive; empty line or EOF ends
    tilelli chat --model TilelliLab/tilelli-v4 --revision main "Hi"   a Hub id (huggingface_hub cache)
    tilelli card --model models/base/v4-s0 [--output card.md]  model card with the claim verdicts (after verify)
    tilelli push --model models/base/v4-s0 --repo org/name   upload the folder and its full card to the Hub
    tilelli convert OLD_DIR [--output NEW_DIR]          rewrite a format-1 folder in the Hub layout
    tilelli params [overrides] | tilelli params --check compose params.yaml / check it matches conf/

Chat uses the SFT format of docs/CONTRACTS.md: the prompt is "USER: {question}\\nTILELLI:", the
model continues with " {answer}\\n", and generation stops at the end of turn ("\\n"). Each
question is answered on its own (the model was tuned on single-turn pairs and its context is
256 bytes). Bytes are streamed as they are generated through an incremental UTF-8 decoder, so a
multi-byte character appears once complete and invalid bytes show as U+FFFD. Questions are
bytes too: standard input is read as bytes, so invalid UTF-8 in a pipe reaches the model as it
is and gets an answer. Under an ASCII locale (LC_ALL=C) characters stdout cannot encode print
as "?" instead of ending the answer in an error.

Failures (missing or corrupt checkpoint, bad option values) print `error: <one line>` on stderr
and exit with status 2, like the stage scripts (tilelli/stage.py).
"""
from __future__ import annotations

import argparse
import codecs
import json
import sys
from dataclasses import asdict

from tilelli.data.chat import ASSISTANT_TAG, END_OF_TURN, USER_PREFIX
from tilelli import paths, study
from tilelli.io import TilelliError


def _stream_writer(out, skip_leading_space: bool = False):
    """callback(token_id) writing decoded UTF-8 to `out` as bytes arrive."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    first = [skip_leading_space]

    def write(token: int) -> None:
        if first[0]:
            first[0] = False
            if token == 0x20:
                return
        text = decoder.decode(bytes([token]))
        if text:
            out.write(text)
            out.flush()

    def finish() -> None:
        out.write(decoder.decode(b"", final=True))
        out.flush()

    return write, finish


def cmd_info(args) -> None:
    import torch

    from tilelli.model import TilelliLM, list_configs

    if args.model:
        from tilelli.model.checkpoint import FORMAT_VERSION, load_pretrained, read_config, resolve

        path = resolve(args.model, args.revision)
        version = read_config(path)["format_version"]
        lm = load_pretrained(path, TilelliLM)
        print(f"model: {args.model}" + (f" ({path})" if str(path) != args.model else ""))
        print(f"format: {version}" + ("" if version == FORMAT_VERSION else
              f" (run `tilelli convert {args.model}` for the Hugging Face layout with a model card)"))
        print(f"parameters: {lm.num_params():,}")
        print("config: " + json.dumps(asdict(lm.config), indent=1))
        print("metadata: " + json.dumps(getattr(lm, "metadata", {}), indent=1))
        return
    print(f"{'name':28s} {'arch':8s} {'d':>4s} {'L':>3s} {'quant':>7s} {'params':>12s}  pathways")
    for name in list_configs():
        with torch.device("meta"):                       # counts without allocating weights
            lm = TilelliLM.from_config(name)
        c = lm.config
        print(f"{name:28s} {c.arch:8s} {c.d_model:4d} {c.n_layers:3d} "
              f"{'ternary' if c.quantize else 'fp32':>7s} {lm.num_params():12,d}  "
              f"{' '.join(c.pathways) or 'attention+ffn'}")


def _sampling(args) -> dict:
    return dict(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, seed=args.seed,
                use_cache=not args.no_cache)


def cmd_generate(args) -> None:
    from tilelli.model import TilelliLM

    lm = TilelliLM.from_pretrained(args.model, args.revision)
    prompt = list(args.prompt.encode("utf-8", errors="surrogateescape"))   # argv bytes as they were
    stop = [s.replace("\\n", "\n").replace("\\t", "\t").encode("utf-8") for s in args.stop] or None
    sys.stdout.write(args.prompt)
    write, finish = _stream_writer(sys.stdout)
    lm.generate(prompt, args.max_new, stop=stop, callback=write, **_sampling(args))
    finish()
    sys.stdout.write("\n")


def question_bytes(question: str | bytes) -> bytes:
    """The question's bytes, stripped: the model is byte-level, so any bytes are a question.

    Text from argv that was not valid UTF-8 arrives with surrogate escapes; they map back to
    the original bytes (never a UnicodeEncodeError)."""
    if isinstance(question, str):
        return question.strip().encode("utf-8", errors="surrogateescape")
    return question.strip()


def answer(lm, question: str | bytes, max_new: int, out, **sampling) -> str:
    """Stream the model's answer to one question to `out`; return it (without the end of turn)."""
    from tilelli.tokenizer import ByteTokenizer

    tok = ByteTokenizer()
    prompt = list(USER_PREFIX.encode() + question_bytes(question) + ASSISTANT_TAG.encode())
    write, finish = _stream_writer(out, skip_leading_space=True)
    full = lm.generate(prompt, max_new, stop=[END_OF_TURN.encode()], callback=write, **sampling)
    finish()
    out.write("\n")
    return tok.decode(full[len(prompt):]).removeprefix(" ")


def cmd_chat(args) -> None:
    from tilelli.model import TilelliLM

    lm = TilelliLM.from_pretrained(args.model, args.revision)
    if args.question:
        answer(lm, " ".join(args.question), args.max_new, sys.stdout, **_sampling(args))
        return
    interactive = sys.stdin.isatty()
    if interactive:
        print(f"tilelli chat ({args.model}); empty line or Ctrl-D to quit", file=sys.stderr)
    # Lines are read as bytes: a pipe may carry any bytes (invalid UTF-8 included), and the
    # model takes them as they are.
    stdin = getattr(sys.stdin, "buffer", None)
    while True:
        if interactive:
            sys.stderr.write("you> ")
            sys.stderr.flush()
        line = stdin.readline() if stdin is not None else sys.stdin.readline()
        if not line or not line.strip():
            break
        sys.stdout.write("tilelli> ")
        answer(lm, line, args.max_new, sys.stdout, **_sampling(args))


def cmd_params(args) -> None:
    from tilelli.stage import check_composed, compose

    if args.check:
        if args.overrides:
            raise TilelliError("--check takes no overrides: it replays those recorded in params.yaml")
        if not check_composed(args.output):
            print("params check skipped inside `dvc exp run` (it composes params.yaml itself)", file=sys.stderr)
        print(f"{args.output} matches conf/")       # the same line either way: a DVC output can hold it
        return
    print(f"wrote {compose(args.overrides, args.output)}")


def cmd_card(args) -> None:
    from tilelli.hub import full_card
    from tilelli.io import write_text

    card = full_card(args.model, name=args.name, ref=args.ref)
    if args.output:
        write_text(args.output, card)
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(card)


def cmd_push(args) -> None:
    from tilelli.hub import push_to_hub

    commit = push_to_hub(args.model, args.repo, revision=args.revision, private=args.private or None,
                         commit_message=args.message)
    print(f"pushed {args.model} to {args.repo}: {commit}")


def cmd_convert(args) -> None:
    from tilelli.model.checkpoint import export_folder

    print(f"wrote {export_folder(args.model, args.output or args.model)} (format 2: config.json, README.md)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tilelli", description="Tilelli byte-level LM tools")
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="list named configs or describe a checkpoint")
    group = info.add_mutually_exclusive_group(required=True)
    group.add_argument("--configs", action="store_true", help="named configs with parameter counts")
    group.add_argument("--model", help="checkpoint directory written by save_pretrained, or a Hub id")
    info.add_argument("--revision", help="Hub branch, tag or commit (Hub ids only)")
    info.set_defaults(func=cmd_info)

    def sampling_options(p, max_new):
        p.add_argument("--model", required=True, help="checkpoint directory, or a Hub id org/name")
        p.add_argument("--revision", help="Hub branch, tag or commit (Hub ids only)")
        p.add_argument("--max-new", type=int, default=max_new, help="bytes to generate")
        p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
        p.add_argument("--top-k", type=int, default=None)
        p.add_argument("--top-p", type=float, default=None)
        p.add_argument("--seed", type=int, default=None)
        p.add_argument("--no-cache", action="store_true", help="recompute the window every step")

    gen = sub.add_parser("generate", help="continue a prompt")
    sampling_options(gen, 128)
    gen.add_argument("--prompt", required=True)
    gen.add_argument("--stop", action="append", default=[], help="stop sequence (repeatable, \\n escapes)")
    gen.set_defaults(func=cmd_generate)

    chat = sub.add_parser("chat", help="answer a question (or chat interactively)")
    sampling_options(chat, 200)
    chat.add_argument("question", nargs="*", help="one-shot question; omit for interactive mode")
    chat.set_defaults(func=cmd_chat)

    params = sub.add_parser("params", help="compose params.yaml from conf/ (as `dvc exp run -S` does)")
    params.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. profile=paper pretrain.steps=7")
    params.add_argument("--output", default="params.yaml")
    params.add_argument("--check", action="store_true", help="fail if params.yaml is not conf/ composed")
    params.set_defaults(func=cmd_params)

    card = sub.add_parser("card", help="print a model card with the claim verdicts (after `verify`)")
    card.add_argument("--model", required=True, help=f"model folder, e.g. {paths.model_path(study.v4_dir(0))}")
    card.add_argument("--name", help=f"the model's name in claims.yaml (default: the path under {paths.MODELS}/)")
    card.add_argument("--ref", help="how the card's usage lines load the model (default: --model)")
    card.add_argument("--output", help="write here instead of stdout")
    card.set_defaults(func=cmd_card)

    push = sub.add_parser("push", help="upload a model folder with its full card to the Hugging Face Hub")
    push.add_argument("--model", required=True, help=f"model folder, e.g. {paths.model_path(study.v4_dir(0))}")
    push.add_argument("--repo", required=True, help="Hub repo id org/name (created if missing)")
    push.add_argument("--revision", help="branch to commit to (default: main)")
    push.add_argument("--private", action="store_true")
    push.add_argument("--message", help="commit message")
    push.set_defaults(func=cmd_push)

    convert = sub.add_parser("convert", help="rewrite a format-1 model folder in the Hugging Face layout")
    convert.add_argument("model", help="model folder")
    convert.add_argument("--output", help="write here (default: in place, atomically)")
    convert.set_defaults(func=cmd_convert)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):
        # Under an ASCII locale (LC_ALL=C) a generated U+FFFD or "é" must not end the answer
        # in a UnicodeEncodeError: such characters print as "?" there.
        sys.stdout.reconfigure(errors="replace")
    try:
        args.func(args)
    except TilelliError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
