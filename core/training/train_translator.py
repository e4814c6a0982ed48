"""Make the tiny translator again: `python -m core.training.train_translator` (or `make train-translator`).

Generates the training corpus of the toy task (core/text/translation_task.py), learns the word-level tokenizer
on it, trains the classic encoder–decoder (core/training/trainer.py) on one CPU thread with torch's deterministic
algorithms, evaluates it on the training split and on the held-out split (subject × place × time triples
never seen in training), and writes tokenizer.json, model.safetensors and metrics.json to
core/data/tiny-translator/. The same command gives the same files on the same torch version.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

from core.loaders.translator import DATA_DIR, METRICS_FILE, TOKENIZER_FILE, WEIGHTS_FILE, translator_config, wrap_tokenizer
from core.text import translation_task
from core.training.trainer import Progress, evaluate, train
from core.training.translator_task import encode_pairs, train_tokenizer
from core.training.translator_task import translation_task as make_task

SEED = 0
STEPS = 2000
BATCH_SIZE = 64
LEARNING_RATE = 2e-3
WARMUP = 200
LABEL_SMOOTHING = 0.1  # as in "Attention Is All You Need": next-word probabilities stay below 1
THREADS = 1
TOKENIZER_CORPUS = 20_000  # training pairs the vocabulary is learned from
EVALUATION_SEED = 1  # the evaluation sentences are drawn apart from the training stream
EVALUATION_SENTENCES = 500


def evaluation_pairs(split: str, n: int = EVALUATION_SENTENCES) -> list[tuple[str, str]]:
    return translation_task.pairs(n, EVALUATION_SEED, split)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--out", type=Path, default=DATA_DIR)
    parser.add_argument("--threads", type=int, default=THREADS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    began = time.perf_counter()

    corpus = translation_task.pairs(TOKENIZER_CORPUS, SEED, "train")
    raw_tokenizer = train_tokenizer([zh for zh, _ in corpus] + [en for _, en in corpus])
    tokenizer = wrap_tokenizer(raw_tokenizer)
    missing = [w for w in translation_task.chinese_words() if raw_tokenizer.token_to_id(w) is None]
    if missing:
        raise SystemExit(f"the corpus misses lexicon words: {missing}")
    task = make_task(tokenizer)
    config = translator_config(tokenizer.vocab_size)

    def report(progress: Progress) -> None:
        if progress.step % 100 == 0 or progress.step == progress.steps:
            print(f"step {progress.step:5d}/{progress.steps}  loss {progress.loss:.4f}  "
                  f"lr {progress.learning_rate:.2e}  {progress.seconds:6.1f} s", flush=True)

    run = train(task, config, args.steps, batch_size=BATCH_SIZE, learning_rate=LEARNING_RATE, warmup=WARMUP,
                label_smoothing=LABEL_SMOOTHING, seed=SEED, device="cpu", callback=report)
    figures = {split: evaluate(run.module, task, encode_pairs(tokenizer, evaluation_pairs(split)))
               for split in ("train", "held-out")}
    elapsed = time.perf_counter() - began
    for split, values in figures.items():
        print(f"{split:9s} exact match {values['exact_match']:.1%}  token accuracy {values['token_accuracy']:.1%}")

    args.out.mkdir(parents=True, exist_ok=True)
    raw_tokenizer.save(str(args.out / TOKENIZER_FILE))
    weights = {name: p.detach().contiguous().cpu() for name, p in run.module.named_parameters()}  # tied: once
    # One metadata entry: safetensors writes a map of several in no fixed order, and the file would change.
    save_file(weights, str(args.out / WEIGHTS_FILE), metadata={"source": f"make train-translator: seed {SEED}, "
                                                                          f"{args.steps} steps"})
    metrics = {
        "command": "make train-translator",
        "seed": SEED,
        "steps": args.steps,
        "batch_size": BATCH_SIZE,
        "learning_rate": LEARNING_RATE,
        "warmup": WARMUP,
        "label_smoothing": LABEL_SMOOTHING,
        "threads": args.threads,
        "parameters": sum(p.numel() for p in run.module.parameters()),
        "vocab_size": tokenizer.vocab_size,
        "final_loss": round(sum(run.losses[-50:]) / len(run.losses[-50:]), 4),  # mean of the last 50 steps
        "evaluation": {"seed": EVALUATION_SEED, "sentences": EVALUATION_SENTENCES,
                       "exact_match": "share of sentences whose greedy translation is the reference, word for word",
                       "token_accuracy": "share of reference tokens (and </s>) predicted when the decoder reads the "
                                         "true words before them"},
        "train": figures["train"],
        "held_out": figures["held-out"],
        "held_out_triples": [translation_task.triple_text(t) for t in sorted(translation_task.HELD_OUT_TRIPLES)],
        "seconds": round(elapsed, 1),
        "machine": f"{platform.machine()}, torch {torch.__version__}, {args.threads} thread(s)",
    }
    (args.out / METRICS_FILE).write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out} in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
