"""Training a small Transformer of the core from scratch, seeded, on the CPU or CUDA.

A `Task` draws (source ids, target ids) pairs; `train` builds the model of a `ModelConfig`, trains it
with Adam on the cross-entropy of the next target token (teacher forcing: the decoder reads the true
target shifted by one, `<s>` first), and reports to a callback every step: the loss, and every few
steps a `Snapshot` of the attention on one probe pair, so that a page can show the pattern form.
`evaluate` decodes greedily and counts exact sentences and tokens.

The same seed, task, sizes and thread count give the same weights: the model and every batch are drawn
from the seed, and torch's deterministic algorithms are on while training.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from core.engine.config import ModelConfig
from core.engine.devices import resolve_device
from core.engine.model import Transformer

IGNORE = -100  # label of the positions the loss skips (padding)

Pair = tuple[list[int], list[int]]  # (source ids, target ids); the target without <s> and </s>


@dataclass(frozen=True)
class Task:
    name: str
    vocab_size: int
    pad_id: int
    bos_id: int
    eos_id: int
    sample: Callable[[random.Random, int], list[Pair]]  # n pairs, every choice drawn from the generator
    probe: Pair  # the pair whose attention the snapshots show
    labels: tuple[str, ...] | None = None  # a readable label for every id


def copy_task(symbols: int = 10, min_length: int = 3, max_length: int = 8, reverse: bool = False) -> Task:
    """Copy (or reverse) a sequence of `symbols` digit-like symbols: the cross-attention of a model that
    has learned it is the diagonal (or the anti-diagonal)."""
    first = 3  # after <pad>, <s>, </s>

    def sample(rng: random.Random, n: int) -> list[Pair]:
        pairs = []
        for _ in range(n):
            source = [first + rng.randrange(symbols) for _ in range(rng.randint(min_length, max_length))]
            pairs.append((source, source[::-1] if reverse else list(source)))
        return pairs

    probe = [first + (i * 7 + 3) % symbols for i in range(max_length)]
    labels = ("<pad>", "<s>", "</s>") + tuple(str(i % 10) if symbols <= 10 else f"s{i}" for i in range(symbols))
    return Task("reverse" if reverse else "copy", first + symbols, 0, 1, 2, sample,
                (probe, probe[::-1] if reverse else list(probe)), labels)


UNKNOWN_CHAR = "\ufffd"  # the label of the id every character outside a character task's vocabulary reads as
UNKNOWN_ID = 3


def char_task(text: str, context: int = 32, probe_chars: int = 24) -> Task:
    """A character-level language model of `text` for a decoder alone: each pair is ([], a window of
    `context` characters drawn anywhere in the text); the decoder reads `<s>` + the window and learns every
    next character. Ids: `<pad>`, `<s>`, `</s>`, an unknown character, then the text's characters, most
    frequent first. The probe is the text's first `probe_chars` characters."""
    if not text:
        raise ValueError("a character task needs some text")
    if context < 2:
        raise ValueError("context must be at least 2 characters")
    counts: dict[str, int] = {}
    for char in text:
        counts[char] = counts.get(char, 0) + 1
    chars = sorted(counts, key=lambda c: (-counts[c], c))
    labels = ("<pad>", "<s>", "</s>", UNKNOWN_CHAR) + tuple(chars)
    ids = {char: i for i, char in enumerate(labels) if i > 3}
    encoded = [ids[c] for c in text]
    window = min(context, len(encoded))

    def sample(rng: random.Random, n: int) -> list[Pair]:
        starts = [rng.randrange(len(encoded) - window + 1) for _ in range(n)]
        return [([], encoded[s : s + window]) for s in starts]

    return Task("chars", len(labels), 0, 1, 2, sample, ([], encoded[: min(probe_chars, window)]), labels)


def encode_chars(task: Task, text: str) -> list[int]:
    """`text` as the ids of a `char_task` (characters it never saw read as the unknown one)."""
    ids = {label: i for i, label in enumerate(task.labels or ()) if i > 3}
    return [ids.get(char, UNKNOWN_ID) for char in text]


@torch.inference_mode()
def continue_text(module: Transformer, task: Task, prompt: Sequence[int], max_new_tokens: int = 80,
                  temperature: float = 0.0, seed: int = 0) -> list[int]:
    """A decoder's continuation of `prompt` (after `<s>`), one token at a time: the most probable one
    (`temperature` 0) or one drawn from softmax(logits / temperature) with a seeded generator. The context
    keeps `<s>` first and slides over the last positions but one that the model has (a `char_task` model learned
`</s>` at its last position: the window's end, not the text's); the output stops before `</s>`."""
    if module.encoder is not None:
        raise ValueError("continue_text is for a decoder alone")
    device = next(module.parameters()).device
    window = module.config.max_positions
    generator = torch.Generator().manual_seed(seed)
    ids, new = list(prompt), []
    for _ in range(max_new_tokens):
        context = [task.bos_id, *ids[max(0, len(ids) - window + 2) :]]
        logits = module(torch.tensor([context], device=device), logits_for="last").logits[0, -1].float().cpu()
        logits[[task.pad_id, task.bos_id]] = -math.inf  # never predicted: padding and the start
        if temperature > 0:
            next_id = int(torch.multinomial(torch.softmax(logits / temperature, dim=-1), 1, generator=generator))
        else:
            next_id = int(logits.argmax())
        if next_id == task.eos_id:
            break
        ids.append(next_id)
        new.append(next_id)
    return new


@dataclass(frozen=True)
class Snapshot:
    """Every head's attention on the probe pair, float32: encoder self-attention (layers, heads, S, S),
    decoder self-attention (layers, heads, T, T), cross-attention (layers, heads, T, S); None where the
    model has no such stack. T counts the decoder's input: `<s>` and the target."""

    step: int
    encoder: np.ndarray | None
    decoder: np.ndarray
    cross: np.ndarray | None


@dataclass(frozen=True)
class Progress:
    step: int  # steps done
    steps: int
    loss: float  # of this step's batch
    learning_rate: float
    seconds: float  # since training began
    snapshot: Snapshot | None  # every `snapshot_every` steps, and after the last


@dataclass
class TrainingRun:
    module: Transformer
    losses: list[float]
    seconds: float
    stopped: bool  # the callback asked to stop before the last step


def build_model(config: ModelConfig, seed: int) -> Transformer:
    """A fresh model drawn from `seed`; embeddings scaled to variance 1/d_model as the paper's shared
    embedding (multiplied by sqrt(d_model) when read, where the config says so)."""
    torch.manual_seed(seed)
    module = Transformer(config)
    with torch.no_grad():
        stacks = [s for s in (module.encoder, module.stack) if s is not None]
        for stack in stacks:
            stack.embed.tokens.weight.normal_(0.0, config.d_model**-0.5)
    return module


def batch_tensors(task: Task, pairs: Sequence[Pair], device: torch.device, encoder: bool = True) -> dict[str, torch.Tensor]:
    """Padded tensors of a batch: source (B, S) and source_is_real, decoder input (B, T) = <s> + target,
    labels (B, T) = target + </s>, IGNORE at padding."""
    b = len(pairs)
    s = max((len(src) for src, _ in pairs), default=0) if encoder else 0
    t = max(len(tgt) for _, tgt in pairs) + 1
    source = torch.full((b, max(s, 1)), task.pad_id, dtype=torch.long)
    source_is_real = torch.zeros((b, max(s, 1)), dtype=torch.bool)
    decoder_in = torch.full((b, t), task.pad_id, dtype=torch.long)
    labels = torch.full((b, t), IGNORE, dtype=torch.long)
    for i, (src, tgt) in enumerate(pairs):
        if encoder:
            source[i, : len(src)] = torch.tensor(src, dtype=torch.long)
            source_is_real[i, : len(src)] = True
        decoder_in[i, 0] = task.bos_id
        decoder_in[i, 1 : len(tgt) + 1] = torch.tensor(tgt, dtype=torch.long)
        labels[i, : len(tgt)] = torch.tensor(tgt, dtype=torch.long)
        labels[i, len(tgt)] = task.eos_id
    out = {"decoder_in": decoder_in, "labels": labels}
    if encoder:
        out |= {"source": source, "source_is_real": source_is_real}
    return {name: value.to(device) for name, value in out.items()}


def _forward(module: Transformer, batch: dict[str, torch.Tensor], **kwargs):
    return module(batch["decoder_in"], source_ids=batch.get("source"), source_is_real=batch.get("source_is_real"),
                  **kwargs)


def snapshot(module: Transformer, task: Task, step: int = 0, pair: Pair | None = None) -> Snapshot:
    """The attention of every layer and head on the task's probe pair (or on `pair`)."""
    encoder = module.encoder is not None
    device = next(module.parameters()).device
    batch = batch_tensors(task, [task.probe if pair is None else pair], device, encoder)
    with torch.no_grad():
        out = _forward(module, batch, capture=True, logits_for="none")

    def stacked(layers, part: str) -> np.ndarray:
        return torch.stack([getattr(layer, part).probs[0] for layer in layers]).float().cpu().numpy()

    return Snapshot(
        step=step,
        encoder=stacked(out.encoder.layers, "self_attn") if encoder else None,
        decoder=stacked(out.stack.layers, "self_attn"),
        cross=stacked(out.stack.layers, "cross_attn") if encoder else None,
    )


@contextlib.contextmanager
def _deterministic():
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


def train(
    task: Task,
    config: ModelConfig,
    steps: int,
    *,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    warmup: int = 100,
    label_smoothing: float = 0.0,
    seed: int = 0,
    device: str | torch.device = "cpu",
    callback: Callable[[Progress], bool | None] | None = None,
    snapshot_every: int = 0,
    deterministic: bool = True,
) -> TrainingRun:
    """Train a fresh model of `config` on `task` for `steps` batches. The learning rate rises linearly for
    `warmup` steps, then falls along a half cosine to a tenth of itself. `callback` gets a `Progress` after
    every step; returning False stops training there. `snapshot_every` > 0 adds the probe's attention
    every that many steps (and after the last). `label_smoothing` (the paper's 0.1) spreads that share of
    each target's probability over the whole vocabulary: the model learns not to be certain. `deterministic`
    False leaves torch's process-wide deterministic switch alone (a background job beside other work)."""
    if steps <= 0 or batch_size <= 0:
        raise ValueError("steps and batch_size must be positive")
    if config.vocab_size < task.vocab_size:
        raise ValueError(f"the config's vocabulary ({config.vocab_size}) is smaller than the task's ({task.vocab_size})")
    target = resolve_device(device)
    encoder = config.architecture == "encoder-decoder"
    if config.architecture == "encoder":
        raise ValueError("an encoder has no decoder to train on targets")
    with _deterministic() if deterministic else contextlib.nullcontext():
        module = build_model(config, seed).to(target).train()
        rng = random.Random(seed)
        optimizer = torch.optim.Adam(module.parameters(), lr=learning_rate, betas=(0.9, 0.98), eps=1e-9)

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = (step - warmup) / max(1, steps - warmup)
            return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        losses: list[float] = []
        began, stopped = time.perf_counter(), False
        for step in range(steps):
            batch = batch_tensors(task, task.sample(rng, batch_size), target, encoder)
            logits = _forward(module, batch).logits  # (B, T, vocab)
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), batch["labels"].reshape(-1), ignore_index=IGNORE,
                                   label_smoothing=label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            rate = optimizer.param_groups[0]["lr"]
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
            done = step + 1
            shot = None
            if snapshot_every > 0 and (done % snapshot_every == 0 or done == steps):
                shot = snapshot(module, task, done)
            if callback is not None and callback(Progress(done, steps, losses[-1], rate, time.perf_counter() - began,
                                                          shot)) is False:
                stopped = done < steps
                break
        module.eval()
    return TrainingRun(module, losses, time.perf_counter() - began, stopped)


@torch.inference_mode()
def greedy_decode(module: Transformer, task: Task, sources: Sequence[Sequence[int]], max_new_tokens: int = 40,
                  batch_size: int = 256) -> list[list[int]]:
    """The most probable next token, one at a time, for a batch of sources; each output stops before `</s>`."""
    device = next(module.parameters()).device
    outputs: list[list[int]] = []
    for start in range(0, len(sources), batch_size):
        chunk = [list(s) for s in sources[start : start + batch_size]]
        batch = batch_tensors(task, [(s, []) for s in chunk], device)
        ys = torch.full((len(chunk), 1), task.bos_id, dtype=torch.long, device=device)
        finished = torch.zeros(len(chunk), dtype=torch.bool, device=device)
        for _ in range(max_new_tokens):
            logits = module(ys, source_ids=batch["source"], source_is_real=batch["source_is_real"],
                            logits_for="last").logits[:, -1]  # (B, vocab)
            next_ids = logits.argmax(dim=-1)
            ys = torch.cat([ys, next_ids[:, None]], dim=1)
            finished |= next_ids == task.eos_id
            if bool(finished.all()):
                break
        for row in ys[:, 1:].tolist():
            outputs.append(row[: row.index(task.eos_id)] if task.eos_id in row else row)
    return outputs


@torch.inference_mode()
def evaluate(module: Transformer, task: Task, pairs: Sequence[Pair], batch_size: int = 256) -> dict[str, float | int]:
    """exact_match: share of pairs whose greedy output is the whole target; token_accuracy: share of target
    tokens (and the closing </s>) that are the most probable next token when the decoder reads the true
    target before them (teacher forcing)."""
    device = next(module.parameters()).device
    decoded = greedy_decode(module, task, [src for src, _ in pairs], batch_size=batch_size)
    exact = sum(out == list(tgt) for out, (_, tgt) in zip(decoded, pairs))
    right = total = 0
    for start in range(0, len(pairs), batch_size):
        batch = batch_tensors(task, pairs[start : start + batch_size], device)
        predicted = _forward(module, batch).logits.argmax(dim=-1)
        real = batch["labels"] != IGNORE
        right += int((predicted == batch["labels"])[real].sum())
        total += int(real.sum())
    return {"sentences": len(pairs), "exact_match": exact / len(pairs), "token_accuracy": right / total}
