"""The model a person trained on the live training page, studied on the other pages of their session: the
"Study this model" button keeps it and makes it (and the text tried) the session's; every page then renders it
like an installed model; other sessions never see it; a link naming it falls back to the default."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.runtime import registry
from core.training import live_training as live
from core.training.trainer import train
from viz import catalog, loading, state
from viz.views import trained_model
from viz.views import training as views

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TRAINING = "viz/pages/training.py"
WAIT = 120  # a safety net for joining a thread, never a measure
TINY = {state.TR_STEPS: "20", state.TR_D: "16", state.TR_BATCH: "8", "lang": "en"}
# A sequence model (encoder–decoder, digits only) and a character model (a decoder of 49 positions): each
# unlike every installed model in a way a page could trip on.
KINDS = {
    live.COPY: (live.Recipe(live.COPY, steps=10, batch_size=8), "3 1 4 1 5 9 2"),
    live.CHARS: (live.Recipe(live.CHARS, steps=10, batch_size=8, text="今天太冷了，能穿多少穿多少。" * 3), "今天太冷"),
}


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.fixture(scope="module")
def kept() -> dict[str, str]:
    names = {}
    for kind, (recipe, _) in KINDS.items():
        task, config = live.prepare(recipe)
        module = train(task, config, recipe.steps, **live.training_options(recipe)).module
        names[kind] = f"trained-test-{kind}"
        live.keep_trained_model(names[kind], recipe, task, module)
    return names


def session_with(name: str, text: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state[state.TRAINED_MODELS] = [name]
    at.session_state[state.MODEL] = name
    at.session_state[state.TEXT] = text
    return at


@pytest.mark.parametrize("page", [entry.script for entry in catalog.PAGES])
@pytest.mark.parametrize("kind", list(KINDS))
def test_every_page_renders_a_trained_model(kept, kind, page):
    at = session_with(kept[kind], KINDS[kind][1]).switch_page(page).run()
    assert_clean(at)
    assert at.session_state[state.MODEL] == kept[kind]
    assert kept[kind] in at.selectbox(key=state.MODEL).options


def test_the_training_page_keeps_the_model_and_makes_it_the_sessions(kept):
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in TINY.items():
        at.query_params[key] = value
    at = at.switch_page(TRAINING).run()
    at = at.button(key="tr_start").click().run()
    job = loading.job_registry().get(at.session_state[views.OWNER])
    try:
        assert job.wait(WAIT)
        at.run()
        at.text_input(key=views.TRY).set_value("2 7 1 8").run()
        at = at.button(key="tr_study").click().run()
        assert_clean(at)
        name = at.session_state[state.MODEL]
        assert name.startswith("trained-copy-") and name in at.session_state[state.TRAINED_MODELS]
        assert registry.trained_model(name) is not None
        assert at.session_state[state.TEXT] == "2 7 1 8"
        assert at.selectbox(key=state.MODEL).value == name
        assert any("now studies your model" in s.value for s in at.success)
        at.button(key="tr_study").click().run()  # again: the same model, not a second copy
        assert at.session_state[state.TRAINED_MODELS] == [name]
        at = at.switch_page("viz/pages/attention.py").run()
        assert_clean(at)
        assert at.session_state[state.MODEL] == name
        assert at.session_state[loading.state.TRACED][0][0] == name  # the page traced the trained model
    finally:
        job.stop()
        job.wait(WAIT)


def test_another_session_neither_lists_nor_opens_it(kept):
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params[state.MODEL] = kept[live.COPY]  # a link copied from the session that trained it
    at = at.run()
    assert not at.exception
    assert at.session_state[state.MODEL] != kept[live.COPY]
    assert kept[live.COPY] not in at.selectbox(key=state.MODEL).options
    assert at.warning, "the link's unknown model should be said"


def test_a_model_the_registry_let_go_falls_back_to_the_default(kept, monkeypatch):
    at = session_with("trained-copy-gone", "3 1 4").run()
    assert_clean(at)
    assert at.session_state[state.MODEL] == state.default_model()
    assert trained_model_names(at) == []


def trained_model_names(at: AppTest) -> list[str]:
    return [name for name in at.selectbox(key=state.MODEL).options if name.startswith("trained-")]


def test_the_study_pages_exist():
    assert set(trained_model.STUDY_PAGES) <= set(catalog.BY_ID)
