"""The Positional-encoding page's numbers: the sinusoid against its formula, dot products that depend only
on the distance, the learned table as stored in the weights file, RoPE on recorded heads against complex
multiplication, and a model run without positions against independent references."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file
from torch.func import functional_call

from core import MODELS, InputError, ModelConfig
from core.engine.model import Transformer
from core.engine.positional import Rotary, rope_angles
from core.lessons.position_experiments import (
    compare_orders,
    cosine_matrix,
    diagonal_spread,
    dot_matrix,
    learned_position_table,
    matching,
    offset_curves,
    reorder,
    rope_frequencies,
    rope_head,
    rope_pair_path,
    rope_scores_by_offset,
    run_stack,
    sinusoid,
    unrotate,
    wavelengths,
)
from core.runtime.language_model import LanguageModel
from core.text.tokenizers import bytes_tokenizer
from tests.support.models import loaded
from viz.figures.positions import (
    make_offset_curves_figure,
    make_position_similarity_figure,
    make_position_table_figure,
    make_rope_rotation_figure,
    make_sinusoid_waves_figure,
)

ENCODER, DECODER = "minilm-l6", "smollm2-135m"


@pytest.fixture(scope="module")
def encoder():
    return loaded(ENCODER)


@pytest.fixture(scope="module")
def decoder():
    return loaded(DECODER)


def formula(n: int, d: int) -> np.ndarray:
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d)), one number at a time."""
    table = np.zeros((n, d))
    for pos in range(n):
        for j in range(d):
            angle = pos / 10000 ** (2 * (j // 2) / d)
            table[pos, j] = math.sin(angle) if j % 2 == 0 else math.cos(angle)
    return table


def _z(figure, index: int = 0) -> np.ndarray:
    return np.asarray(figure.data[index].z, dtype=np.float64)


# ---------------------------------------------------------------- the sinusoid


@pytest.mark.parametrize(("n", "d"), [(50, 16), (100, 128), (8, 4)])
def test_the_sinusoid_and_its_heat_map_are_the_formula(n, d):
    table = sinusoid(n, d)
    np.testing.assert_allclose(table, formula(n, d), atol=1e-6)
    np.testing.assert_allclose(_z(make_position_table_figure(table)), formula(n, d), atol=1e-6)


def test_the_waves_are_the_chosen_columns_with_their_periods():
    table, d = sinusoid(60, 32), 32
    periods = wavelengths(d)
    np.testing.assert_allclose(periods, [2 * math.pi * 10000 ** (2 * (j // 2) / d) for j in range(d)])
    figure = make_sinusoid_waves_figure(table, [0, 1, 10], periods)
    expected = formula(60, d)
    for trace, dim in zip(figure.data, [0, 1, 10]):
        np.testing.assert_allclose(trace.y, expected[:, dim], atol=1e-6)
    assert "sin" in figure.data[0].name and "cos" in figure.data[1].name and "one turn every 6.3" in figure.data[0].name


def test_the_dot_product_of_two_positions_depends_only_on_their_distance():
    n, d = 64, 32
    dots = dot_matrix(sinusoid(n, d))
    omegas = 1 / 10000 ** (np.arange(0, d, 2) / d)
    for p in (0, 7, 30):
        for k in range(n - p):
            assert dots[p, p + k] == pytest.approx(np.cos(k * omegas).sum(), abs=1e-4)
    curves = offset_curves(dots, [0, 16, 32])
    np.testing.assert_allclose(curves[1, : n - 16], curves[0, : n - 16], atol=1e-4)
    assert np.isnan(curves[2, n - 32:]).all()
    assert diagonal_spread(dots).max() < 1e-4
    figure = make_offset_curves_figure(np.arange(n - 32), curves[:, : n - 32], ["a", "b", "c"])
    np.testing.assert_allclose(figure.data[2].y, curves[2, : n - 32])
    np.testing.assert_allclose(_z(make_position_similarity_figure(dots)), dots, atol=1e-4)


def test_a_matrix_that_depends_on_more_than_the_distance_has_a_spread():
    rng = np.random.default_rng(0)
    table = rng.normal(size=(10, 4))
    spread = diagonal_spread(dot_matrix(table))
    assert spread[1] > 0.1 and spread[-1] == 0  # the last diagonal has one entry
    cosines = cosine_matrix(table)
    unit = table / np.linalg.norm(table, axis=1, keepdims=True)
    np.testing.assert_allclose(cosines, unit @ unit.T)


# ---------------------------------------------------------------- the learned table


def test_the_learned_table_is_the_one_in_the_weights_file(encoder, decoder):
    stored = load_file(MODELS[ENCODER].path() / "model.safetensors")["embeddings.position_embeddings.weight"]
    np.testing.assert_array_equal(learned_position_table(encoder), stored)
    np.testing.assert_array_equal(learned_position_table(encoder, 40), stored[:40])
    assert learned_position_table(decoder) is None  # RoPE: no table
    trace = encoder.trace("dog bites man")
    np.testing.assert_allclose(trace.stack.positions.values, stored[:5], atol=2e-3)  # float16 in the trace


# ---------------------------------------------------------------- RoPE


def test_unrotating_undoes_the_rotation():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 9, 16))
    rotated = Rotary(rope_angles(torch.arange(9), 16, 500.0), torch.float64)(torch.from_numpy(x)).numpy()
    assert not np.allclose(rotated, x)
    np.testing.assert_allclose(unrotate(rotated, 500.0), x, atol=1e-12)


def test_the_score_by_offset_is_complex_multiplication():
    """Pair j as the complex number x_j + i x_{j+hs/2}: rotating q by Δθ_j gives Re(Σ q̃ conj(k̃) e^{iΔθ})."""
    rng = np.random.default_rng(2)
    hs, base = 16, 10000.0
    q, k = rng.normal(size=hs), rng.normal(size=hs)
    offsets = list(range(0, 40, 3))
    theta = base ** (-np.arange(0, hs, 2) / hs)
    qc, kc = q[: hs // 2] + 1j * q[hs // 2:], k[: hs // 2] + 1j * k[hs // 2:]
    expected = [np.real((qc * np.conj(kc) * np.exp(1j * delta * theta)).sum()) / math.sqrt(hs) for delta in offsets]
    np.testing.assert_allclose(rope_scores_by_offset(q, k, offsets, base), expected, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(rope_frequencies(hs, base), theta)


def test_a_pair_turns_on_a_circle_by_its_frequency():
    rng = np.random.default_rng(3)
    vector, base = rng.normal(size=32), 100000.0
    theta = rope_frequencies(32, base)
    for pair in (0, 5):
        path = rope_pair_path(vector, pair, range(12), base)
        radii = np.hypot(path[:, 0], path[:, 1])
        np.testing.assert_allclose(radii, radii[0])
        turns = np.diff(np.unwrap(np.arctan2(path[:, 1], path[:, 0])))
        np.testing.assert_allclose(turns, theta[pair], rtol=1e-5)  # the model's angles are float32
    other = rng.normal(size=32)
    figure = make_rope_rotation_figure(np.stack([rope_pair_path(vector, 0, range(12), base)]), ["pair 0"],
                                       key_paths=np.stack([rope_pair_path(other, 0, range(12), base)]))
    query, key = (trace for trace in figure.data if trace.name in ("query", "key"))
    np.testing.assert_allclose(query.x, rope_pair_path(vector, 0, range(12), base)[:, 0])
    # At equal positions the angle between the query and the key never changes.
    between = np.unwrap(np.arctan2(query.y, query.x) - np.arctan2(key.y, key.x))
    np.testing.assert_allclose(between, between[0], atol=1e-5)


def test_recorded_scores_are_the_unrotated_vectors_at_their_offset(decoder):
    trace = decoder.trace("The animal didn't cross the street because it was too tired")
    t, base = len(trace.tokens), decoder.config.rope_base
    for layer, head in ((0, 0), (5, 4), (20, 8)):
        record = trace.layers[layer].self_attn
        found = rope_head(record, head, t - 1, base)
        scale = np.abs(found.scores).max()
        np.testing.assert_allclose(found.recomputed(), found.scores, atol=2e-3 * max(scale, 1))
        # ... and the key/value head is the grouped one: query head 8 reads key head 2 of 3.
        np.testing.assert_allclose(found.keys, unrotate(record.k[head // 3], base))


# ---------------------------------------------------------------- a model without positions


def test_with_positions_the_stack_is_the_models_own_forward(encoder, decoder):
    for lm in (encoder, decoder):
        ids = lm.encode("dog bites man")[0].ids
        with torch.inference_mode():
            own = lm.module(torch.tensor([ids]), logits_for="none").hidden.numpy()
        np.testing.assert_array_equal(run_stack(lm, [ids]), own)


def test_without_positions_an_encoder_is_the_model_with_a_zero_position_table(encoder):
    """The reference swaps a zero table into the module for one call (functional_call): fine in a test,
    not on a server where other threads use the same module meanwhile."""
    ids = encoder.encode("the cat sat on the mat")[0].ids
    params = dict(encoder.module.named_parameters())
    params["stack.embed.positions.weight"] = torch.zeros_like(params["stack.embed.positions.weight"])
    with torch.inference_mode():
        reference = functional_call(encoder.module, params, (torch.tensor([ids]),), {"logits_for": "none"}).hidden
    np.testing.assert_allclose(run_stack(encoder, [ids], positions=False), reference.numpy(), atol=1e-5)


@pytest.mark.parametrize("kind", ["rope", "learned", "sinusoidal"])
def test_without_positions_a_small_model_is_its_twin_built_without_them(kind):
    config = ModelConfig(vocab_size=50, d_model=32, n_layers=2, n_heads=4, d_ff=64, max_positions=64, positional=kind,
                         architecture="decoder" if kind == "rope" else "encoder", lm_head=kind == "rope",
                         norm="rmsnorm" if kind == "rope" else "layernorm", embedding_norm=kind == "learned",
                         scale_embeddings=kind == "sinusoidal", type_vocab_size=2 if kind == "learned" else 0)
    torch.manual_seed(0)
    model = Transformer(config).eval()
    twin = Transformer(ModelConfig(**{**config.__dict__, "positional": "none"})).eval()
    state = {name: value for name, value in model.state_dict().items() if "positions" not in name}
    twin.load_state_dict(state, strict=True)

    lm = LanguageModel(kind, kind, model, bytes_tokenizer(), "random", torch.device("cpu"))

    ids = [[3, 1, 4, 1, 5, 9, 2, 6]]
    with torch.inference_mode():
        expected = twin(torch.tensor(ids), logits_for="none").hidden.numpy()
        with_positions = model(torch.tensor(ids), logits_for="none").hidden.numpy()
    np.testing.assert_allclose(run_stack(lm, ids, positions=False), expected, atol=1e-6)
    np.testing.assert_allclose(run_stack(lm, ids, positions=True), with_positions, atol=1e-6)
    assert np.abs(expected - with_positions).max() > 1e-3


def test_running_without_positions_leaves_the_shared_model_alone(encoder):
    """Another session's trace, taken while positions are off in a second thread, is unchanged."""
    text = "a text traced while another thread switches positions off"
    baseline = encoder.trace(text, dtype=np.float32).hidden_states
    before = encoder.module.stack.embed.positions.weight.clone()
    ids = encoder.encode(text)[0].ids
    stop = threading.Event()

    def switch_off():
        while not stop.is_set():
            run_stack(encoder, [ids], positions=False)

    worker = threading.Thread(target=switch_off)
    worker.start()
    try:
        for _ in range(5):
            np.testing.assert_allclose(encoder.trace(text, dtype=np.float32).hidden_states, baseline, atol=1e-5)
    finally:
        stop.set()
        worker.join()
    assert torch.equal(encoder.module.stack.embed.positions.weight, before)


# ---------------------------------------------------------------- reordering and comparing


def test_reordering_keeps_the_added_tokens_and_whole_characters(encoder, decoder):
    tokenizer = encoder.tokenizer
    ids = tokenizer.encode("dog bites man").ids
    assert reorder(tokenizer, ids, "reversed") == tokenizer.encode("man bites dog").ids
    # Byte-level BPE cuts each of these characters into pieces: reversed, they stay whole characters.
    ids = decoder.tokenizer.encode("我爱你").ids
    assert reorder(decoder.tokenizer, ids, "reversed") == decoder.tokenizer.encode("你爱我").ids
    shuffled = reorder(decoder.tokenizer, decoder.tokenizer.encode("AI+编程 扬帆起航").ids, "shuffled")
    assert shuffled != decoder.tokenizer.encode("AI+编程 扬帆起航").ids
    assert sorted(shuffled) == sorted(decoder.tokenizer.encode("AI+编程 扬帆起航").ids)
    decoder.tokenizer.decode(shuffled).encode("utf-8")  # whole characters: no lone bytes
    assert "\ufffd" not in decoder.tokenizer.decode(shuffled)
    assert reorder(tokenizer, [101, 102], "reversed") == [101, 102]
    with pytest.raises(ValueError):
        reorder(tokenizer, ids, "sideways")


def test_matching_pairs_each_token_with_itself():
    assert matching([5, 6, 7, 6], [6, 7, 6, 5]) == [1, 2, 3, 0]
    with pytest.raises(InputError):
        matching([1, 2, 3], [1, 2, 4])
    with pytest.raises(InputError):
        matching([1, 2, 3], [1, 2])


@pytest.mark.parametrize("text", ["dog bites man", "我爱你", "AI+编程 扬帆起航"])
def test_an_encoder_without_positions_gives_the_same_vectors_permuted(encoder, text):
    ids_a = encoder.encode(text)[0].ids
    ids_b = reorder(encoder.tokenizer, ids_a, "reversed" if text != "AI+编程 扬帆起航" else "shuffled")
    result = compare_orders(encoder, ids_a, ids_b)
    off = run_stack(encoder, [ids_a, ids_b], positions=False)
    np.testing.assert_allclose(off[1], off[0][result.permutation], atol=1e-5)  # the same vectors, permuted
    assert result.max_without < 1e-4 and result.permuted_without_positions
    on = run_stack(encoder, [ids_a, ids_b], positions=True)
    assert np.abs(on[1] - on[0][result.permutation]).max() == pytest.approx(result.max_with)
    assert result.max_with > 0.1 and not result.causal and result.positional == "learned"


def test_a_causal_decoder_tells_the_orders_apart_even_without_positions(decoder):
    ids_a = decoder.encode("dog bites man")[0].ids
    result = compare_orders(decoder, ids_a, reorder(decoder.tokenizer, ids_a, "reversed"))
    assert result.causal and not result.permuted_without_positions
    assert result.max_without > 0.1 and result.max_with > 0.1
    assert result.without_positions[1] > 0.1  # " bites" sees " man" before it in one order, "dog" in the other
