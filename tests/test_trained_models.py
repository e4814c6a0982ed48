"""A model trained on the live training page is studied on the other pages like an installed one: it is kept in
the registry under its own name, loads, traces and reads text exactly as it read its training data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core import Capability, InputError, UnknownModelError, load_model, model_shape, spec_of
from core.runtime import registry
from core.training import live_training as live
from core.training.trainer import encode_chars, train

RECIPES = {
    live.COPY: live.Recipe(live.COPY, steps=10, batch_size=8),
    live.REVERSE: live.Recipe(live.REVERSE, steps=10, batch_size=8),
    live.TRANSLATE: live.Recipe(live.TRANSLATE, steps=10, batch_size=8),
    live.CHARS: live.Recipe(live.CHARS, steps=10, batch_size=8, text="今天太冷了，能穿多少穿多少。 The cat sat."),
}
TEXTS = {live.COPY: "3 1 4 1 5", live.REVERSE: "2 7 1 8", live.TRANSLATE: "明天我在学校看书", live.CHARS: "今天 cat"}


@pytest.fixture(scope="module")
def trained():
    """(recipe, task, trained module, kept LanguageModel) for every task, a few steps each."""
    kept = {}
    for task_name, recipe in RECIPES.items():
        task, config = live.prepare(recipe)
        module = train(task, config, recipe.steps, **live.training_options(recipe)).module
        kept[task_name] = (recipe, task, module, live.keep_trained_model(f"test-{task_name}", recipe, task, module))
    return kept


def _training_ids(task_name: str, task, text: str) -> tuple[list[int], list[int]]:
    """(source, decoder input) as the training loop builds them from `text`."""
    if task_name in (live.COPY, live.REVERSE):
        digits = [3 + int(c) for c in text if c.isdigit()]
        return digits, [task.bos_id, *digits]
    if task_name == live.TRANSLATE:
        ids = live._translation()[0].encode(text).ids
        return ids, ids
    return [], [task.bos_id, *encode_chars(task, text)]


@pytest.mark.parametrize("task_name", list(RECIPES))
def test_a_kept_model_reads_text_as_it_was_trained_and_its_trace_is_its_forward_pass(trained, task_name):
    recipe, task, module, lm = trained[task_name]
    text = TEXTS[task_name]
    source, decoder = _training_ids(task_name, task, text)
    encoder_decoder = task_name != live.CHARS
    trace = lm.trace(text, target=text if encoder_decoder else None, dtype=np.float32)
    assert trace.token_ids == decoder
    if encoder_decoder:
        assert trace.encoder.token_ids == source
    module.eval()
    with torch.inference_mode():
        expected = module(torch.tensor([decoder]), source_ids=torch.tensor([source]) if encoder_decoder else None,
                          logits_for="last").logits[0, -1].numpy()
    np.testing.assert_allclose(trace.last_logits, expected, rtol=1e-4, atol=1e-4)
    assert lm.module is not module  # a copy: the page that trained it goes on using its own


@pytest.mark.parametrize("task_name", list(RECIPES))
def test_a_kept_model_has_an_entry_like_an_installed_one(trained, task_name):
    recipe, task, module, lm = trained[task_name]
    spec = spec_of(lm.name)
    assert spec.trained and spec.can(Capability.NEXT_TOKEN)
    assert spec.can(Capability.CROSS_ATTENTION) == (task_name != live.CHARS)
    assert load_model(lm.name) is lm
    config, n_params = model_shape(lm.name)
    assert config == module.config and n_params == sum(p.numel() for p in module.parameters())
    assert lm.name not in registry.MODELS  # listed only where its session lists it


def test_the_registry_keeps_a_bounded_number_of_trained_models(trained, monkeypatch):
    recipe, task, module, _ = trained[live.COPY]
    monkeypatch.setattr(registry, "TRAINED_KEPT", 2)
    names = [f"bounded-{i}" for i in range(3)]
    for name in names:
        live.keep_trained_model(name, recipe, task, module)
    assert registry.trained_model(names[0]) is None
    with pytest.raises(UnknownModelError):
        spec_of(names[0])
    assert all(registry.trained_model(name) is not None for name in names[1:])


def test_a_copy_model_reads_only_digits_and_refuses_a_text_without_any(trained):
    *_, lm = trained[live.COPY]
    assert lm.trace("3, x 1 四", target="3, x 1 四").encoder.token_ids == [6, 4]
    with pytest.raises(InputError, match="nothing to run"):
        lm.trace("今天太冷了")
