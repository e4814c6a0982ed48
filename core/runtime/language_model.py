"""A model with its tokenizer: text in, `Trace` out."""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from core.engine.attention import HeadAblation
from core.engine.model import DecoderCache, LogitsFor, Transformer, TransformerOutput
from core.engine.parameters import ParameterBreakdown, parameter_breakdown
from core.errors import N_, InputError, Message
from core.loaders.translator import END, KIND, unknown_words
from core.record.trace import StackRecord, Trace
from core.runtime.generation import GeneratedToken, Generation, GenerationCache, Sampling, Step, next_token, step_rng
from core.runtime.replay import CACHE_BYTES, Replay
from core.runtime.weights import Weights
from core.text.chat import apply_chat_template
from core.text.tokenizers import Encoded, TextTokenizer

MAX_TEXT_CHARS = 20_000  # longer text is cut before tokenising, with a note in the trace
# A trace keeps O(T·d) numbers (core/runtime/replay.py): 2,048 tokens of SmolLM2 hold about 300 MB.
DEFAULT_MAX_TOKENS = 2048


@dataclass(frozen=True)
class ModelInfo:
    name: str
    title: str
    architecture: str
    n_layers: int
    n_heads: int
    n_kv_heads: int
    d_model: int
    d_ff: int
    vocab_size: int
    max_positions: int
    n_params: int
    tokenizer: str
    weights: str  # where the numbers come from
    device: str
    dtype: str


class LanguageModel:
    """Owns a `Transformer` and its tokenizer. Treat it as read-only: pages share one per process."""

    def __init__(self, name: str, title: str, module: Transformer, tokenizer: TextTokenizer, weights: str,
                 device: torch.device, chat_template: str | None = None):
        self.name, self.module, self.tokenizer = name, module.eval(), tokenizer
        self.device, self.chat_template = device, chat_template
        config = module.config
        self.info = ModelInfo(
            name=name,
            title=title,
            architecture=config.architecture,
            n_layers=config.n_layers,
            n_heads=config.n_heads,
            n_kv_heads=config.kv_heads,
            d_model=config.d_model,
            d_ff=config.d_ff,
            vocab_size=config.vocab_size,
            max_positions=config.max_positions,
            n_params=sum(p.numel() for p in module.parameters()),
            tokenizer=tokenizer.kind,
            weights=weights,
            device=str(device),
            dtype=str(next(module.parameters()).dtype).removeprefix("torch."),
        )

    @property
    def config(self):
        return self.module.config

    @functools.cached_property
    def weights(self) -> Weights:
        """The model's weights by name (`lm.weights.W_O(layer)`), and its norms."""
        return Weights(self.module)

    @functools.cached_property
    def parameters(self) -> ParameterBreakdown:
        """Parameter counts per part of the model, as numbers (pages never touch the torch module)."""
        return parameter_breakdown(self.module)

    def encode(self, text: str | Sequence[int]) -> tuple[Encoded, tuple[Message, ...]]:
        """Tokens for text (or given ids), and notes on anything cut to fit."""
        notes: list[Message] = []
        if isinstance(text, str):
            if len(text) > MAX_TEXT_CHARS:
                notes.append(Message(N_("The text was cut to its first {count:,} characters."), count=MAX_TEXT_CHARS))
                text = text[:MAX_TEXT_CHARS]
            encoded = self.tokenizer.encode(text)
        else:
            try:
                ids = [int(i) for i in text]
            except (TypeError, ValueError):
                raise InputError(N_("Token ids must be whole numbers.")) from None
            encoded = Encoded(ids, [self.tokenizer.id_to_token(i) for i in ids], [(0, 0)] * len(ids))
        if not [i for i in encoded.ids if i not in self.tokenizer.special_ids]:
            raise InputError(N_("There is nothing to run: the text is empty. Type a sentence."))
        return encoded, tuple(notes)

    def _fit(self, encoded: Encoded, max_tokens: int) -> tuple[Encoded, int | None]:
        """Cut to max_tokens, keeping a closing special token such as [SEP]."""
        n = len(encoded.ids)
        if n <= max_tokens:
            return encoded, None
        keep_last = encoded.ids[-1] in self.tokenizer.special_ids
        head = max_tokens - 1 if keep_last else max_tokens
        pick = list(range(head)) + ([n - 1] if keep_last else [])
        cut = Encoded([encoded.ids[i] for i in pick], [encoded.tokens[i] for i in pick], [encoded.offsets[i] for i in pick])
        return cut, n

    def _ids(self, encoded: Encoded) -> torch.Tensor:
        return torch.tensor([encoded.ids], device=self.device)  # (1, T)

    @torch.inference_mode()
    def run(
        self,
        ids: torch.Tensor | Sequence[Sequence[int]],
        *,
        source_ids: torch.Tensor | Sequence[Sequence[int]] | None = None,
        key_is_real: torch.Tensor | None = None,
        capture: bool = False,
        checkpoints: bool = False,
        logits_for: LogitsFor = "all",
        head_ablation: Mapping[int, HeadAblation] | None = None,
        also_allowed: torch.Tensor | None = None,
        positions: bool = True,
        cache: DecoderCache | None = None,
    ) -> TransformerOutput:
        """One forward pass of a batch of ids (B, T), on the model's device, with the engine's records and
        interventions (`Transformer.forward`): what an experiment runs that a trace does not."""
        def on_device(values):
            return None if values is None else torch.as_tensor(values, device=self.device)
        return self.module(on_device(ids), key_is_real=key_is_real, source_ids=on_device(source_ids),
                           capture=capture, logits_for=logits_for, checkpoints=checkpoints,
                           head_ablation=head_ablation, also_allowed=also_allowed, positions=positions, cache=cache)

    @torch.inference_mode()
    def prefix_run(self, ids: Sequence[int], trace: Trace | None = None) -> tuple[DecoderCache, torch.Tensor]:
        """A decoder's keys and values of `ids` (every layer) and its (vocab,) logits after the last id: read from
        `trace` when it is a lazy trace (ValueError if its text does not begin with them), else one forward pass."""
        if trace is not None and isinstance(trace.replay, Replay):
            found = trace.replay.prefix_cache(ids)
            if found is None:
                raise ValueError("the trace is of another text")
            return found
        cache = DecoderCache(self.config.n_layers)
        out = self.run(torch.tensor([list(ids)], device=self.device), cache=cache, logits_for="last")
        return cache, out.logits[0, -1]

    def replay(self, out: TransformerOutput, dtype: np.dtype | type | str,
               cache_bytes: int = CACHE_BYTES) -> Replay:
        """What produces a run's values on demand from what it kept (`run(..., checkpoints=True)`), as a
        trace's are."""
        return Replay(self.module, {"stack": out.stack, "encoder": out.encoder}, np.dtype(dtype), cache_bytes)

    @torch.inference_mode()
    def trace(
        self,
        text: str | Sequence[int],
        *,
        target: str | Sequence[int] | None = None,
        capture: bool = True,
        dtype: np.dtype | type = np.float16,
        logits: LogitsFor = "all",
        max_tokens: int = DEFAULT_MAX_TOKENS,
        cache_bytes: int = CACHE_BYTES,
    ) -> Trace:
        """Run the model on `text` and record everything it computed.

        For an encoder-decoder, `text` is the source and `target` what the decoder
        has produced so far (default: just the start token). The trace keeps the residual
        stream; other values are produced when read (core/runtime/replay.py), and up to `cache_bytes`
        of them kept.
        """
        max_tokens = min(max_tokens, self.config.max_positions)
        encoded, notes = self.encode(text)
        encoded, truncated_from = self._fit(encoded, max_tokens)
        if truncated_from is not None:
            notes += (Message(N_("The text has {count:,} tokens; only the first {shown:,} are shown."),
                             count=truncated_from, shown=max_tokens),)
        source = None
        if self.config.architecture == "encoder-decoder":
            source = encoded
            encoded = self._decoder_input(target, max_tokens)
        elif target is not None:
            raise InputError(N_("{model} is not an encoder-decoder; it takes no target"), model=self.name)
        # A recorded trace computes the logits of every position only when they are read: at 2,048 tokens
        # they are 400 MB (SmolLM2) to 2 GB (Gemma), and the largest matrix product of the forward pass.
        lazy_logits = capture and logits == "all"
        out = self.module(
            self._ids(encoded),
            source_ids=None if source is None else self._ids(source),
            checkpoints=capture,
            logits_for="last" if lazy_logits else logits,
        )
        logit_array = None if out.logits is None else out.logits[0].float().cpu().numpy()  # stays float32
        last = None if logit_array is None else logit_array[-1]
        replay = None
        if capture:
            replay = self.replay(out, dtype, cache_bytes)
            if lazy_logits and logit_array is not None:
                logit_array = replay.logits()
        return Trace(
            model=self.name,
            architecture=self.config.architecture,
            dtype=np.dtype(dtype).name,
            compute_dtype=self.info.dtype,
            stack=self._stack(replay, "stack", encoded),
            logits=logit_array,
            encoder=None if source is None else self._stack(replay, "encoder", source),
            truncated_from=truncated_from,
            notes=notes,
            last_logits=last,
            replay=replay,
        )

    def _decoder_input(self, target: str | Sequence[int] | None, max_tokens: int) -> Encoded:
        """The decoder's input: the start token, then `target` (a tokenizer that does not prepend the start
        token to every text, as a copy task's, gets it here)."""
        start = self.tokenizer.bos_id
        first = Encoded([start], [self.tokenizer.id_to_token(start)], [(0, 0)])
        if target is None or (isinstance(target, str) and not target):
            return first
        encoded, _ = self.encode(target)
        if encoded.ids[:1] != [start]:
            encoded = Encoded(first.ids + encoded.ids, first.tokens + encoded.tokens, first.offsets + encoded.offsets)
        return self._fit(encoded, max_tokens)[0]

    @staticmethod
    def _stack(replay: Replay | None, name: str, encoded: Encoded) -> StackRecord:
        if replay is None:  # capture=False keeps only the tokens
            return StackRecord(encoded.tokens, encoded.ids, encoded.offsets, embeddings=None, positions=None,
                               token_types=None, embed_out=None, layers=(), final_norm=None, hidden_states=None)
        return replay.stack(name, encoded)

    def chat_prompt(self, user_message: str) -> str:
        """`user_message` wrapped in the model's chat template, ready for the assistant's reply."""
        return apply_chat_template(self.chat_template, [{"role": "user", "content": user_message}])

    @torch.inference_mode()
    def next_token_logits(self, ids: Sequence[int], source: Sequence[int] | None = None) -> np.ndarray:
        """float32 (vocab,) logits after `ids`, without recording anything."""
        if self.module.lm_head is None:
            raise InputError(N_("{model} is an encoder: it does not predict next tokens"), model=self.name)
        out = self.module(
            torch.tensor([list(ids)], device=self.device),
            source_ids=None if source is None else torch.tensor([list(source)], device=self.device),
            logits_for="last",
        )
        return out.logits[0, -1].float().cpu().numpy()

    @torch.inference_mode()
    def read(self, ids: Sequence[int], cache: GenerationCache) -> tuple[np.ndarray, np.ndarray]:
        """float32 (vocab,) logits after `ids`, and float16 (layers, heads, S) attention of the last id, reading
        only the ids that `cache` has not read (usually one): the others' keys and values are in it."""
        ids = [int(i) for i in ids]
        if cache.model != self.name or cache.layers is None:
            cache.model, cache.ids, cache.layers = self.name, [], DecoderCache(self.config.n_layers)
        # The last id is always read again: its logits are the answer.
        keep = min(_common_prefix(cache.ids, ids), len(ids) - 1)
        cache.ids = cache.ids[:keep]
        cache.layers.truncate(keep)
        new = torch.tensor([ids[keep:]], device=self.device)  # (1, T new)
        if new.size(1) > 1:  # a prompt: read all but its last id without recording (T x T a layer)
            self.module(new[:, :-1], cache=cache.layers, logits_for="none")
        out = self.module(new[:, -1:], cache=cache.layers, logits_for="last")
        cache.ids = ids
        attention = torch.stack([layer.last_row[0] for layer in cache.layers.layers])  # (L, nh, S)
        return out.logits[0, -1].float().cpu().numpy(), attention.to(torch.float16).cpu().numpy()

    def _continuable(self, ids: Sequence[int]) -> list[int]:
        if self.info.architecture != "decoder":
            raise InputError(N_("{model} is an {architecture}; step-by-step generation here needs a decoder"),
                             model=self.name, architecture=self.info.architecture)
        ids = [int(i) for i in ids]
        if not ids:
            raise InputError(N_("There is nothing to continue: the text is empty. Type a sentence."))
        if len(ids) >= self.info.max_positions:
            raise InputError(N_("The text already fills the model's context of {count:,} tokens"),
                             count=self.info.max_positions)
        return ids

    def generate_step(self, ids: Sequence[int], sampling: Sampling, rng: np.random.Generator,
                      cache: GenerationCache | None = None) -> Step:
        """Append one token to `ids` (a decoder's). Without a cache the model runs on all of `ids` (only the last
        position's logits are computed); with one it reads only what the cache has not read."""
        ids = self._continuable(ids)
        attention = None
        if cache is None:
            logits = self.next_token_logits(ids)
        else:
            logits, attention = self.read(ids, cache)
        token_id, distribution = next_token(logits, sampling, rng)
        return Step(ids + [token_id], token_id, logits, distribution, attention)

    def generate(self, prompt: str | Sequence[int], max_new_tokens: int, sampling: Sampling | None = None,
                 seed: int | None = None, stop_ids: Collection[int] | None = None) -> Generation:
        """Continue `prompt` (text or ids) by up to `max_new_tokens` tokens, each step reading only the new token.
        Greedy unless `sampling` says otherwise; `seed` (default: the sampling's) draws token i with
        step_rng(seed, position), as one click at a time would. Stops after a token of `stop_ids`
        (default: the tokenizer's special tokens, which end a text)."""
        sampling = Sampling(greedy=True) if sampling is None else sampling
        seed = sampling.seed if seed is None else seed
        stop = self.tokenizer.special_ids if stop_ids is None else set(stop_ids)
        prompt_ids = self._continuable(self.encode(prompt)[0].ids if isinstance(prompt, str) else prompt)
        ids, cache, tokens = list(prompt_ids), GenerationCache(), []
        for _ in range(max_new_tokens):
            if len(ids) >= self.info.max_positions:
                break
            logits, attention = self.read(ids, cache)
            # Greedy: the argmax of the logits is that of the probabilities (the first of equal ones, the lowest id).
            token_id = int(np.argmax(logits)) if sampling.greedy else next_token(logits, sampling,
                                                                                  step_rng(seed, len(ids)))[0]
            tokens.append(GeneratedToken(token_id, logits, attention))
            ids.append(token_id)
            if token_id in stop:
                break
        return Generation(prompt_ids, tuple(tokens))

    def check_translatable(self, text: str) -> None:
        """InputError for a model that is no encoder–decoder, or for a source with words the translator never
        read."""
        if self.config.architecture != "encoder-decoder":
            raise InputError(N_("{model} is not an encoder–decoder: it does not translate."), model=self.name)
        unknown = unknown_words(self.tokenizer, text) if self.tokenizer.kind == KIND else []
        if unknown:
            raise InputError(N_("The translator does not know these words: {words}. It knows only the words of its "
                                "toy task (for example 我是一名学生)."), words=", ".join(unknown))

    def translate(self, text: str, max_new_tokens: int = 40) -> str:
        """An encoder–decoder's translation of `text` by greedy decoding: the most probable next word, one at a
        time, until `</s>` (or max_new_tokens)."""
        self.check_translatable(text)
        source, _ = self.encode(text)
        source_ids = source.ids[: self.config.max_positions]
        end = next((i for i in self.tokenizer.special_ids if self.tokenizer.id_to_token(i) == END), None)
        ids = [self.tokenizer.bos_id]
        for _ in range(max_new_tokens):
            next_id = int(self.next_token_logits(ids, source_ids).argmax())
            if next_id == end:
                break
            ids.append(next_id)
        return self.tokenizer.decode(ids[1:], skip_special_tokens=True)

    @torch.inference_mode()
    def sentence_embedding(self, text: str) -> np.ndarray:
        """Mean of the final hidden states over tokens, L2-normalised (the sentence-transformers recipe)."""
        encoded, _ = self.encode(text)
        encoded, _ = self._fit(encoded, self.config.max_positions)
        hidden = self.module(self._ids(encoded), logits_for="none").hidden[0].float()  # (T, d)
        pooled = hidden.mean(dim=0)
        return (pooled / pooled.norm().clamp_min(1e-12)).cpu().numpy()


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n
