"""Gemma 3 270M in our Transformer against transformers' Gemma3ForCausalLM.

Both read the same GGUF file (Q4_K_M: Q4_K, Q5_0, Q6_K, Q8_0 and F32 tensors) and dequantise it with
gguf-py, so the weights are identical and any difference is in the computation. transformers takes
about a minute to load it on two cores: it is loaded once for the module, and the prompts are few.
The texts are shorter than the 512-token window, so here local and global layers see the same keys;
tests/test_gemma_architecture.py proves the window itself on a small random model.
"""

from __future__ import annotations

import os

# Nothing may reach a model hub: set before transformers (and huggingface_hub) are imported.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import numpy as np
import pytest
import torch

from tests.support.gemma import gemma_package, gguf_path
from tests.support.head_score_reference import assert_scores_match
from tests.support.models import loaded

pytestmark = pytest.mark.parity

gemma_package()
pytest.importorskip("transformers")

PROMPTS = [
    "The capital of France is",
    "今天太冷了，能穿多少",
    "<start_of_turn>user\n用一句话介绍长城。<end_of_turn>\n<start_of_turn>model\n",
    "Attention is all you need: the Transformer replaces recurrence with self-attention, so every token "
    "looks at every earlier token at once. 注意力机制让每个词元同时看到之前的所有词元。",
]


@pytest.fixture(scope="module")
def ours():
    return loaded("gemma3-270m", "cpu")


@pytest.fixture(scope="module")
def hf():
    from transformers import Gemma3ForCausalLM

    path = gguf_path()
    model = Gemma3ForCausalLM.from_pretrained(
        str(path.parent), gguf_file=path.name, dtype=torch.float32, attn_implementation="eager",
        local_files_only=True,
    )
    return model.eval()


@pytest.fixture(scope="module")
def runs(ours, hf):
    """(our trace, transformers' output) for every prompt, computed once."""
    results = {}
    for prompt in PROMPTS:
        tr = ours.trace(prompt, dtype=np.float32)
        with torch.inference_mode():
            out = hf(input_ids=torch.tensor([tr.token_ids]), output_hidden_states=True, output_attentions=True,
                     use_cache=False)
        results[prompt] = (tr, out)
    return results


def test_configs_agree(ours, hf):
    c, config = hf.config, ours.config
    assert (config.n_layers, config.n_heads, config.kv_heads, config.head_dim, config.d_model, config.d_ff) == (
        c.num_hidden_layers, c.num_attention_heads, c.num_key_value_heads, c.head_dim, c.hidden_size,
        c.intermediate_size,
    )
    assert config.vocab_size == c.vocab_size == 262_144
    assert config.sliding_window == c.sliding_window == 512
    kinds = {"sliding_attention": "sliding", "full_attention": "global"}
    assert config.layer_kinds == tuple(kinds[k] for k in c.layer_types)
    assert config.rope_base == c.rope_parameters["full_attention"]["rope_theta"] == 1_000_000
    assert config.rope_local_base == c.rope_parameters["sliding_attention"]["rope_theta"] == 10_000
    assert config.attn_scale == c.query_pre_attn_scalar**-0.5 == 256**-0.5
    assert config.final_logit_softcap == c.final_logit_softcapping is None
    assert config.norm_eps == pytest.approx(c.rms_norm_eps)
    assert config.tie_embeddings and c.tie_word_embeddings


def test_one_embedding_table_serves_as_output_head(ours):
    embedding = ours.module.stack.embed.tokens.weight
    assert ours.module.lm_head.weight is embedding and embedding.dtype == torch.float32
    assert sum(p.numel() for p in ours.module.parameters()) == 268_098_176  # the table counted once


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
    assert len(out.attentions) == len(tr.layers) == 18
    for i, theirs in enumerate(out.attentions):
        probs = tr.layers[i].self_attn.probs
        assert probs.shape == tuple(theirs.shape[1:])
        np.testing.assert_allclose(probs, theirs[0].numpy(), rtol=0, atol=1e-5, err_msg=f"layer {i}")


@pytest.mark.parametrize("prompt", PROMPTS)
def test_hidden_states_match(runs, prompt):
    """Compared per position relative to its norm: Gemma's residual stream grows large."""
    tr, out = runs[prompt]
    n_layers = len(tr.layers)
    assert len(out.hidden_states) == n_layers + 1
    ours_states = list(tr.hidden_states[:n_layers]) + [tr.stack.final_norm]
    for i, (mine, theirs) in enumerate(zip(ours_states, out.hidden_states)):
        theirs = theirs[0].numpy()
        error = np.linalg.norm(mine - theirs, axis=-1) / np.linalg.norm(theirs, axis=-1)
        assert error.max() < 1e-4, f"hidden state {i}: relative error {error.max():.2e}"


def test_a_float16_trace_keeps_the_residual_stream_past_65504_finite(ours):
    """Gemma's first-token residual stream grows past float16's largest value in the middle layers: the trace
    keeps such a value in float32 rather than recording infinity, and everything else stays float16."""
    trace = ours.trace("今天太冷了，能穿多少", dtype=np.float16)
    hidden = trace.hidden_states
    assert np.isfinite(hidden).all()
    assert np.abs(hidden).max() > np.finfo(np.float16).max and hidden.dtype == np.float32
    assert trace.layers[0].self_attn.probs.dtype == np.float16


def test_head_scores_match_the_same_definitions_on_transformers_attentions(ours, hf):
    """The Head finder's scores against TransformerLens's definitions on transformers' eager attentions."""
    assert_scores_match(ours, hf)
