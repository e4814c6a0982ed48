"""Watch a Transformer learn: the task and sizes, start and stop, the live progress, and the trained model.

Training runs in a background thread of the process's job registry (core/training/jobs.py), one job per session:
this module never waits for it. While a job runs, `live_panel` is a fragment that reruns every
`REFRESH_S` seconds and reads the job's progress; when the job ends it reruns the page once, which draws the
panel again without the timer. The session's liveness: the server's own list of open sessions where there
is one, else the heartbeat every run of this page gives.
"""

from __future__ import annotations

import uuid

import numpy as np
import streamlit as st
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core import N_, ScopeError
from core.text import bpe_training
from core.training import live_training as live
from core.training.jobs import STATUS_TEXT, Job, JobView
from core.training.trainer import Snapshot, snapshot
from viz import export, loading, state, tokens
from viz.figures.attention import make_attention_heatmap_figure
from viz.figures.training import make_loss_figure
from viz.glossary import NUMBERED_FROM_ZERO
from viz.state import _

OWNER = "_training_owner"  # this session's name in the job registry
SHOT, KIND, LAYER, TRY = "_tr_shot", "_tr_kind", "_tr_layer", "_tr_try"
OWN_TEXT = "_tr_own_text"
REFRESH_S = 1.0
LESSON, OWN = "lesson", "own"
SOURCES = {LESSON: N_("The app's lesson texts (中文 + English)"), OWN: N_("Your own text")}
KINDS = {"cross": N_("cross-attention (decoder → encoder)"), "decoder": N_("decoder self-attention (masked)"),
         "encoder": N_("encoder self-attention")}
EXAMPLES = {live.COPY: "3 1 4 1 5 9 2", live.REVERSE: "3 1 4 1 5 9 2", live.TRANSLATE: "明天我在学校看书"}
PROMPT_CHARS = 24  # a character model's example prompt: the start of its own text


# ---------------------------------------------------------------- the session and its job


def owner() -> str:
    """This session's name in the job registry (a random one, kept in the session)."""
    return st.session_state.setdefault(OWNER, uuid.uuid4().hex)


def session_alive_check(session_id: str):
    """True or False from the server's list of open sessions; None where there is no server to ask (a test)."""
    def alive() -> bool | None:
        if not Runtime.exists():
            return None
        said = Runtime.instance().is_active_session(session_id)
        return said if isinstance(said, bool) else None
    return alive


def current_job() -> Job | None:
    registry = loading.job_registry()
    registry.touch(owner())  # the heartbeat: this session is still here
    return registry.get(owner())


# ---------------------------------------------------------------- the controls


def task_choice() -> str:
    state.settle_choice(state.TR_TASK, live.TASKS, live.COPY)
    translate = state.translator()
    chosen = st.radio(_("What the model learns"), live.TASKS, key=state.TR_TASK,
                      format_func=lambda t: translate(live.TASK_TITLES[t]))
    state.link(state.TR_TASK, chosen, live.COPY)
    return chosen


def text_choice(task: str) -> str:
    """The character model's text: the lesson texts or the person's own; "" for the other tasks."""
    state.settle_choice(state.TR_SOURCE, list(SOURCES), LESSON)  # kept from a link, though shown only for text
    if task != live.CHARS:
        return ""
    translate = state.translator()
    source = st.radio(_("Text to learn from"), list(SOURCES), key=state.TR_SOURCE, horizontal=True,
                      format_func=lambda s: translate(SOURCES[s]))
    state.link(state.TR_SOURCE, source, LESSON)
    if source == LESSON:
        text = bpe_training.lesson_corpus()
        st.caption(_("{count:,} characters: the texts this app uses to teach tokenization.").format(count=len(text)))
        return text
    return st.text_area(_("Paste a text ({low:,} to {high:,} characters)").format(
        low=live.MIN_TEXT_CHARS, high=live.MAX_TEXT_CHARS), key=OWN_TEXT, max_chars=live.MAX_TEXT_CHARS, height=150)


def size_controls(task: str, text: str) -> live.Recipe:
    first, second, third = st.columns(3)
    layers = first.slider(_("Layers"), *live.LAYERS, value=1, key=state.TR_LAYERS, bind="query-params",
                          help=_("Encoder and decoder layers each, for the sequence tasks"))
    d_model = first.select_slider(_("d_model (width)"), live.D_MODELS, value=32, key=state.TR_D,
                                  bind="query-params")
    heads = second.select_slider(_("Heads"), live.HEADS, value=2, key=state.TR_HEADS, bind="query-params",
                                 help=_("Every choice divides every width: each head gets d_model ÷ heads"))
    steps = second.slider(_("Training steps"), *live.STEPS, value=300, step=10, key=state.TR_STEPS,
                          bind="query-params")
    batch = third.select_slider(_("Batch size"), state.TR_BATCHES, value=32, key=state.TR_BATCH,
                                bind="query-params")
    third.caption(_("At most {seconds:.0f} seconds a run; training stops there.").format(
        seconds=loading.job_registry().time_limit))
    return live.Recipe(task, int(layers), int(d_model), int(heads), int(steps), int(batch), text)


def start_stop(recipe: live.Recipe) -> None:
    registry = loading.job_registry()
    row = st.container(horizontal=True)
    if row.button("▶ " + _("Start training"), type="primary", key="tr_start"):
        ctx = get_script_run_ctx()
        alive = session_alive_check(ctx.session_id) if ctx is not None else None
        try:
            registry.start(owner(), recipe, alive=alive)
        except ScopeError as exc:
            st.warning(state.render(exc), icon="✋")
    if row.button("⏹ " + _("Stop"), key="tr_stop") and not registry.stop(owner()):
        st.info(_("Nothing is training in this session."))


# ---------------------------------------------------------------- progress, loss, snapshots


def live_panel() -> None:
    job = current_job()
    if job is None:
        st.info(_("Choose a task and sizes, then press Start: the loss and the attention appear here as the "
                  "model learns."))
        return
    timed = job.running  # a fragment on a timer while the job runs, and a still one after it
    st.fragment(_panel, run_every=REFRESH_S if timed else None)(job, timed)


def _panel(job: Job, timed: bool) -> None:
    loading.job_registry().touch(owner())
    view = job.view()
    status = _(STATUS_TEXT[view.status])
    st.progress(min(view.step / max(view.steps, 1), 1.0), text=_("Step {step} of {steps} · {seconds:.1f} s · "
                                                                 "{status}").format(
        step=view.step, steps=view.steps, seconds=view.seconds, status=status))
    if view.error is not None:
        st.error(state.render(view.error))
    if view.losses:
        row = st.container(horizontal=True)
        row.metric(_("Loss now"), f"{view.losses[-1]:.3f}", width="content")
        row.metric(_("Loss at the start"), f"{view.losses[0]:.3f}", width="content")
        x, y = view.loss_curve()
        export.show(make_loss_figure(x, y, live.moving_average(y), view.steps,
                                     marks=[s.step for s in view.snapshots], _=_), key="tr_loss")
    _snapshots(view, job)
    if timed and not view.running:
        st.rerun(scope="app")  # the job has ended: the page again, without the timer, and the model to try


def _snapshots(view: JobView, job: Job) -> None:
    if not view.snapshots:
        return
    st.subheader(_("The attention, as it forms"))
    if view.running:
        shot = view.snapshots[-1]
        st.caption(_("The newest snapshot; when training ends, a slider runs over all of them."))
    else:
        steps = [s.step for s in view.snapshots]
        chosen = st.select_slider(_("Snapshot at step"), steps, value=steps[-1], key=SHOT)
        shot = view.snapshots[steps.index(chosen)]
    show_attention(shot, job, job.task.probe, key="tr_probe")


def show_attention(shot: Snapshot, job: Job, pair, key: str) -> None:
    """One layer's heads of one kind of attention, on `pair` (the probe, or what the person tried)."""
    kinds = [k for k in KINDS if getattr(shot, k) is not None]
    translate = state.translator()
    row = st.container(horizontal=True)
    kind = row.radio(_("Which attention"), kinds, key=f"{KIND}-{key}", horizontal=True,
                     format_func=lambda k: translate(KINDS[k]))
    weights = getattr(shot, kind)
    layer = row.selectbox(_("Layer"), range(len(weights)), key=f"{LAYER}-{key}", placeholder=_("Choose one"),
                          help=_(NUMBERED_FROM_ZERO)) if len(weights) > 1 else 0
    source, target = pair
    labels = job.task.labels or ()
    decoder = tokens.axis_labels([tokens.visible(labels[i]) for i in [job.task.bos_id, *target]])
    encoder = tokens.axis_labels([tokens.visible(labels[i]) for i in source])
    queries, keys = (encoder, encoder) if kind == "encoder" else (decoder, encoder if kind == "cross" else decoder)
    stack = weights[layer][:, : len(queries), : len(keys)]
    mask = np.tril(np.ones(stack.shape[1:], dtype=bool)) if kind == "decoder" else np.ones(stack.shape[1:], bool)
    titles = [_("head {head}").format(head=h) for h in range(len(stack))]
    export.show(make_attention_heatmap_figure(stack, mask, queries, keys, head=0, head_titles=titles,
                                              title=_("step {step}").format(step=shot.step), _=_), key=key)


# ---------------------------------------------------------------- the trained model


def try_model(job: Job | None) -> str:
    """After a job: its model answers the person's input, and its attention on that input; returns the input
    ("" before a model is there)."""
    if job is None or job.running or job.module is None:
        return ""
    st.subheader(_("Try the model you trained"))
    recipe = job.recipe
    if st.session_state.get(f"{TRY}-job") != id(job):  # a new model: an example it can read
        st.session_state[TRY] = recipe.text[:PROMPT_CHARS] if recipe.task == live.CHARS else EXAMPLES[recipe.task]
        st.session_state[f"{TRY}-job"] = id(job)
    typed = st.text_input(_("Input"), key=TRY, max_chars=400)
    kept = st.session_state.get(f"{TRY}-answer")
    if kept is None or kept[:2] != (id(job), typed):  # a character model writes 120 characters: once per input
        try:
            answer = live.answer(job.module, recipe, job.task, typed)
        except ScopeError as exc:
            st.info(state.render(exc))
            return typed
        pair = live.answer_pair(recipe, answer)
        kept = (id(job), typed, answer, pair, snapshot(job.module, job.task, job.view().step, pair))
        st.session_state[f"{TRY}-answer"] = kept
    answer, pair, shot = kept[2:]
    if recipe.task == live.CHARS:
        person, model = answer.text[: answer.prompt_length], answer.text[answer.prompt_length:]
        st.code(person + model, language=None, wrap_lines=True)
        st.caption(_("The first {count} characters are yours; the rest the model wrote, one character at a "
                     "time.").format(count=answer.prompt_length))
    else:
        st.code(answer.text or "∅", language=None)
    show_attention(shot, job, pair, key="tr_try_attention")
    return typed
