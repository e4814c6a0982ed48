"""The pages of issue 12 (part): self-attention step by step, multi-head and switching heads off, which earlier
tokens mattered. AppTest with presets in both languages, the numbers they show against the core."""

from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import core.lessons.ablation
import core.numeric
from core.lessons.attention_steps import STAGES, random_inputs, worked_example
from core.lessons.attribution import trace_rollout
from tests.support.pages import open_page, plotly_array
from viz import presets, state
from viz.loading import get_trace

MATH, MULTI, ATTRIBUTION = "viz/pages/attention_math.py", "viz/pages/multi_head.py", "viz/pages/token_attribution.py"
TEXT = "The cat sat on the mat because it was warm"


def _open(page: str, model: str = "smollm2-135m", text: str = TEXT, **params: str) -> AppTest:
    return open_page(page, session={state.MODEL: model, state.TEXT: text}, query=params)


def _charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


@pytest.mark.parametrize("causal", ["false", "true"])
def test_the_worked_example_steps_through_every_stage_with_the_cores_numbers(causal):
    at = _open(MATH, **{state.AM_N: "5", state.AM_DK: "3", state.AM_SEED: "11", state.AM_CAUSAL: causal})
    expected = worked_example(*random_inputs(5, 3, 11), causal=causal == "true")
    for step, stage in enumerate(STAGES, start=1):  # steps counted from 1, in the control and the heading
        assert at.session_state[state.AM_STEP] == step
        assert at.subheader[0].value.startswith(f"Step {step} of {len(STAGES)}:")
        if stage == "probs":
            shown = plotly_array(_charts(at)[0]["data"][0]["z"])
            np.testing.assert_allclose(shown, expected.probs, rtol=1e-6, atol=1e-7)
        if step < len(STAGES):
            at.button(key=f"{state.AM_STEP}-next").click().run()
            assert not at.exception, [e.value for e in at.exception]
    assert at.query_params[state.AM_STEP] == str(len(STAGES))
    written = [latex.value for latex in at.latex if "z_{3}=" in latex.value]
    assert written and f"{expected.z[2, 0]:.2f}" in written[0]  # 小红's output, written out


def test_the_real_head_table_shows_the_traces_numbers():
    at = _open(MATH, **{state.LAYER: "4", state.HEAD: "7", state.TOKEN: "6"})
    trace = get_trace("smollm2-135m", TEXT)
    record = trace.layers[4].self_attn
    table = next(df.value for df in at.dataframe if "softmax weight" in df.value.columns)
    np.testing.assert_array_equal(table["softmax weight"].to_numpy(), record.head_probs(7)[6].astype(np.float32))
    np.testing.assert_array_equal(table["× scale"].to_numpy(), record.head_scores(7)[6].astype(np.float32))


def test_switching_heads_off_runs_the_core_once_and_shows_its_numbers(monkeypatch):
    calls = []
    original = core.lessons.ablation.run_ablated

    def counting(*args, **kwargs):
        calls.append(args[2])
        return original(*args, **kwargs)

    monkeypatch.setattr(core.lessons.ablation, "run_ablated", counting)
    at = _open(MULTI, text="The animal didn't cross the street because it was too tired",
               **{state.LAYER: "3", state.ABLATE: "1,4", state.ABLATE_MODE: "mean", state.LATER: "2"})
    assert len(calls) == 1 and calls[0][3].heads == (1, 4) and calls[0][3].mode == "mean"
    lm_trace = get_trace("smollm2-135m", "The animal didn't cross the street because it was too tired")
    from viz.loading import get_model

    run = original(get_model("smollm2-135m"), lm_trace, core.lessons.ablation.ablation_of({3: [1, 4]}, "mean"))
    probs = core.numeric.softmax(run.last_logits)
    top = int(np.argmax(core.numeric.softmax(lm_trace.last_logits)))
    assert at.metric[0].value == f"{probs[top]:.4f}"
    later = _charts(at)[-1]["data"]
    np.testing.assert_allclose(plotly_array(later[1]["z"]), run.query_rows(6, len(lm_trace.token_ids) - 1), atol=1e-3)
    at.button(key=f"{state.LAYER}-next").click().run() if any(b.key == f"{state.LAYER}-next" for b in at.button) \
        else at.run()
    at.run()
    assert len(calls) == 1  # cached: a rerun reads the stored run
    assert at.query_params[state.ABLATE] == "1,4"


def test_attribution_shows_rollout_and_removal_with_a_notice_when_long():
    at = _open(ATTRIBUTION, **{state.POSITION: "6"})
    data = _charts(at)[0]["data"]
    np.testing.assert_allclose(plotly_array(data[0]["x"]), trace_rollout(get_trace("smollm2-135m", TEXT), 6), atol=1e-6)
    assert not at.info
    long = " ".join(["one two three four five six seven eight nine ten"] * 12)
    at = _open(ATTRIBUTION, text=long)
    assert any("not measured" in i.value for i in at.info)


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("page", ["attention_math", "multi_head", "token_attribution"])
def test_every_preset_opens_without_error(page, language):
    at = _open(f"viz/pages/{page}.py", lang=language)
    for index, preset in enumerate(presets.for_page(page)):
        at.button(key=f"preset-{page}-{index}").click().run()
        assert not at.exception, (preset.label, [e.value for e in at.exception])
        assert at.session_state[state.TEXT] == preset.text
