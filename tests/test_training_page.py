"""Watch a Transformer learn, through AppTest: both languages, a tiny job whose progress, loss and attention
appear, a second start refused, stop, the trained model answering, and a second session that renders
another page while the first session's job trains."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.text import bpe_training
from core.training import live_training as live
from core.training.jobs import RUNNING, SESSION_ENDED, STOPPED
from tests.support import pages
from tests.support.pages import APP
from viz import i18n, loading, presets, state, url
from viz.views import training as views

PAGE, OTHER_PAGE = "viz/pages/training.py", "viz/pages/emergence.py"
WAIT = 120  # a safety net for joining a thread, never a measure
TINY = {state.TR_STEPS: "20", state.TR_D: "16", state.TR_BATCH: "8"}
RECIPES = presets.for_page("training")
WIDGETS = {state.TR_LAYERS: "slider", state.TR_D: "select_slider", state.TR_HEADS: "select_slider",
           state.TR_STEPS: "slider", state.TR_BATCH: "select_slider", state.TR_TASK: "radio",
           state.TR_SOURCE: "radio"}
LONG = {state.TR_STEPS: "3000", state.TR_D: "128", state.TR_LAYERS: "3", state.TR_BATCH: "128"}


@pytest.fixture(autouse=True)
def no_job_left():
    yield
    registry = loading.job_registry()
    for job in list(registry._jobs.values()):
        job.stop()
        job.wait(WAIT)


def open_page(query: dict[str, str]) -> AppTest:
    return pages.open_page(PAGE, query=query, check=False)


def job_of(at: AppTest):
    return loading.job_registry().get(at.session_state[views.OWNER])


def start(at: AppTest) -> AppTest:
    return at.button(key="tr_start").click().run()


@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
def test_the_page_offers_every_task_in_both_languages(language):
    at = open_page({"lang": language, state.TR_TASK: live.CHARS})
    assert not at.exception, [e.value for e in at.exception]
    translate = i18n.translator(language)
    assert translate("Watch a Transformer learn") in at.title[0].value
    assert at.radio(key=state.TR_TASK).options == [translate(live.TASK_TITLES[t]) for t in live.TASKS]
    assert at.radio(key=state.TR_SOURCE).value == "lesson"
    assert any(translate("Choose a task and sizes, then press Start: the loss and the attention appear here as "
                         "the model learns.") == i.value for i in at.info)


def recipe_shown(at: AppTest) -> dict:
    """The value of every recipe control the page shows."""
    return {key: getattr(at, kind)(key=key).value for key, kind in WIDGETS.items()
            if key != state.TR_SOURCE or at.radio(key=state.TR_TASK).value == live.CHARS}


def test_the_recipes_are_short_labelled_text_less_presets_within_the_bounds():
    assert [dict(p.settings)[state.TR_TASK] for p in RECIPES] == list(live.TASKS)  # one for every task
    for preset in RECIPES:
        settings = dict(preset.settings)
        assert preset.text is None and preset.note and len(preset.label) <= 30
        assert set(settings) <= set(WIDGETS) and set(settings) <= set(url.URL_PARAMS)
        assert all(url.URL_PARAMS[key].valid(str(value)) for key, value in settings.items())
        text = bpe_training.lesson_corpus() if settings[state.TR_TASK] == live.CHARS else ""
        live.Recipe(settings[state.TR_TASK], settings[state.TR_LAYERS], settings[state.TR_D],
                    settings[state.TR_HEADS], settings[state.TR_STEPS], settings[state.TR_BATCH], text).check()


@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
@pytest.mark.parametrize("index", range(len(RECIPES)), ids=lambda i: RECIPES[i].settings[0][1])
def test_a_recipe_button_sets_the_controls_and_the_link(language, index):
    preset = RECIPES[index]
    translate = i18n.translator(language)
    at = open_page({"lang": language})
    row = [b for b in at.button if b.key.startswith("preset-training-")]
    assert [b.label for b in row] == [translate(p.label) for p in RECIPES]
    at.button(key=f"preset-training-{index}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert recipe_shown(at) == dict(preset.settings)
    assert translate(preset.note) in [i.value for i in at.info]  # the note of the recipe now chosen
    again = open_page(dict(at.query_params))  # the link alone gives the same recipe
    assert recipe_shown(again) == dict(preset.settings)
    again.run()  # the note follows the controls' values, which a first run from a link has only once drawn
    assert translate(preset.note) in [i.value for i in again.info]


def test_a_recipe_leaves_the_text_and_starts_as_it_says():
    at = open_page({"lang": "en", state.TEXT: "my own text"})
    at.button(key="preset-training-1").click().run()
    assert at.session_state[state.TEXT] == "my own text"
    start(at)
    job = job_of(at)
    settings = dict(RECIPES[1].settings)
    assert (job.recipe.task, job.recipe.layers, job.recipe.d_model, job.recipe.heads, job.recipe.steps,
            job.recipe.batch_size) == tuple(settings[k] for k in (state.TR_TASK, state.TR_LAYERS, state.TR_D,
                                                                   state.TR_HEADS, state.TR_STEPS, state.TR_BATCH))
    at.button(key="tr_stop").click().run()
    assert job.wait(WAIT)


def test_a_tiny_job_shows_its_progress_loss_and_attention_then_its_model_answers():
    at = start(open_page({"lang": "en", **TINY}))
    assert not at.exception, [e.value for e in at.exception]
    job = job_of(at)
    assert job is not None and job.recipe.steps == 20 and job.recipe.d_model == 16
    assert job.wait(WAIT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    progress = at.get("progress")
    assert progress and "Step 20 of 20" in progress[0].proto.text
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["Loss now"]) < float(metrics["Loss at the start"])
    assert "The attention, as it forms" in [s.value for s in at.subheader]
    assert at.select_slider(key=views.SHOT).options[-1] == "20"  # a slider over the snapshots, the last shown
    at.text_input(key=views.TRY).set_value("1 2 3").run()
    assert not at.exception and at.code  # what the model wrote
    at.text_input(key=views.TRY).set_value("no digits").run()
    assert any("digits" in i.value for i in at.info)


def test_a_second_start_in_the_same_session_is_refused_and_stop_ends_the_first():
    at = start(open_page({"lang": "en", **LONG}))
    job = job_of(at)
    assert job.status == RUNNING
    start(at)
    assert any("already training" in w.value for w in at.warning)
    assert job_of(at) is job
    at.button(key="tr_stop").click().run()
    assert job.wait(WAIT) and job.status == STOPPED
    at.run()
    assert not at.exception and at.get("progress")


def test_another_session_renders_a_page_while_a_job_trains():
    first = start(open_page({"lang": "en", **LONG}))
    job = job_of(first)
    assert job.status == RUNNING
    second = AppTest.from_file(APP, default_timeout=120)
    second.switch_page(OTHER_PAGE).run()  # the second session's whole run, start to end
    assert not second.exception, [e.value for e in second.exception]
    assert second.title and job.status == RUNNING  # done while the first session's job still trains
    assert job.view().step < job.recipe.steps
    first.button(key="tr_stop").click().run()
    assert job.wait(WAIT) and job.status == STOPPED


def test_the_session_check_asks_the_server_which_sessions_are_open(monkeypatch):
    open_sessions = {"tab"}

    class Server:
        @staticmethod
        def exists():
            return True

        @staticmethod
        def instance():
            return type("Runtime", (), {"is_active_session": staticmethod(lambda sid: sid in open_sessions)})

    monkeypatch.setattr(views, "Runtime", Server)
    alive = views.session_alive_check("tab")
    assert alive() is True
    job = loading.job_registry().start("tab-owner", live.Recipe(live.COPY, 1, 16, 2, 3000, 8), alive=alive)
    open_sessions.clear()  # the browser tab was closed
    assert job.wait(WAIT) and job.status == SESSION_ENDED
    monkeypatch.setattr(Server, "exists", staticmethod(lambda: False))
    assert alive() is None  # no server to ask: the heartbeat decides


def test_the_character_model_on_a_hostile_pasted_text():
    hostile = '<img src=x onerror=alert(1)><script>alert("x")</script> ' * 3
    at = open_page({"lang": "zh", state.TR_TASK: live.CHARS, state.TR_SOURCE: "own", **TINY})
    at.text_area(key=views.OWN_TEXT).set_value(hostile).run()
    start(at)
    assert not at.exception, [e.value for e in at.exception]
    assert job_of(at).wait(WAIT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.code and at.code[0].value.startswith(hostile[: views.PROMPT_CHARS])
    assert not [m for m in at.markdown if "<script" in m.value]
