"""The Overview page for every model, and the parameter breakdown it shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.engine.parameters import parameter_breakdown
from tests.support.models import loaded

APP = str(Path(__file__).resolve().parents[1] / "app.py")
MODELS = ("classic", "minilm-l6", "smollm2-135m")


@pytest.fixture(scope="module")
def models():
    return {name: loaded(name) for name in MODELS}


@pytest.fixture(scope="module")
def at():
    app = AppTest.from_file(APP, default_timeout=120)
    app.session_state["model"] = "classic"
    app.run()
    return app.switch_page("viz/pages/overview.py").run()


@pytest.mark.parametrize("name", MODELS)
def test_breakdown_adds_up_to_the_models_parameter_count(models, name):
    lm = models[name]
    breakdown = parameter_breakdown(lm.module)
    assert breakdown.total == lm.info.n_params
    assert "other" not in breakdown.groups
    main = "decoder " if lm.info.architecture == "encoder-decoder" else ""
    assert breakdown.groups[main + "embeddings"] >= lm.module.stack.embed.tokens.weight.numel()
    assert breakdown.groups[main + "blocks"] == sum(p.numel() for p in lm.module.stack.layers.parameters())


def test_tied_and_untied_heads(models):
    smol, classic, minilm = (parameter_breakdown(models[n].module) for n in ("smollm2-135m", "classic", "minilm-l6"))
    assert smol.tied_head and smol.groups["output head"] == 0
    assert classic.tied_head and classic.groups["encoder blocks"] > 0
    assert not minilm.tied_head and "output head" not in minilm.groups


@pytest.mark.parametrize("name", MODELS)
def test_overview_shows_the_loaded_models_true_sizes(at, models, name):
    at.session_state["model"] = name
    at.run()
    assert not at.exception
    info = models[name].info
    comparison = at.dataframe[0].value
    column = comparison[name]
    assert column["d_model (vector size)"] == f"{info.d_model:,}"
    layers = str(info.n_layers) if info.architecture != "encoder-decoder" \
        else f"{models[name].config.encoder_layers} encoder + {info.n_layers} decoder"
    assert column["layers (blocks)"] == layers
    assert f"{info.n_params:,}" in column["parameters"]
    assert comparison["GPT-1 (2018)"]["layers (blocks)"] == "12"
    parameters = at.dataframe[1].value
    assert parameters["parameters"].sum() == info.n_params
    assert f"{info.n_params:,}" in " ".join(h.value for h in at.subheader)
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    text = " ".join(a.get("text", "") for a in figure["layout"]["annotations"])
    assert f"× {info.n_layers} " in text and f"{info.d_model} numbers per token" in text
    assert ("Softmax" in text) == (info.architecture != "encoder")
