"""What every page shares: navigation built from the catalogue, presenter mode, the page's opening (`page`: title,
the lesson path's previous/next and its "what to notice", explanation, presets, the untrained-model warning), the
check that the chosen model can do what the page needs (else a message and a model that can), and the cost line."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st
from streamlit import config as streamlit_config
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core import MODELS, N_, Capability, spec_of
from core.lessons.attention_steps import STAGES

from . import catalog, i18n, presets, state, url
from .figures import palette
from .loading import trace_seconds
from .state import _

# Presenter mode: type a projector can carry across a classroom, and room for the figures.
PRESENTER_CSS = """
<style>
section.main .block-container, [data-testid="stMainBlockContainer"] {
    max-width: 100%; padding-left: 2rem; padding-right: 2rem; padding-top: 2.5rem; }
[data-testid="stMainBlockContainer"] p, [data-testid="stMainBlockContainer"] li { font-size: 1.35rem; }
[data-testid="stMainBlockContainer"] h1 { font-size: 2.6rem; }
[data-testid="stMainBlockContainer"] h2 { font-size: 2rem; }
[data-testid="stMainBlockContainer"] label p, [data-testid="stMainBlockContainer"] button p { font-size: 1.15rem; }
[data-testid="stMainBlockContainer"] [data-testid="stCaptionContainer"] p { font-size: 1.1rem; }
[data-testid="stMainBlockContainer"] .katex { font-size: 1.5em; }
[data-testid="stMainBlockContainer"] [data-baseweb="select"] div,
[data-testid="stMainBlockContainer"] input, [data-testid="stMainBlockContainer"] textarea { font-size: 1.15rem; }
[data-testid="stMainBlockContainer"] [data-testid="stMetricLabel"] p { font-size: 1.1rem; }
[data-testid="stMainBlockContainer"] [data-testid="stMetricValue"] { font-size: 2.6rem; }
[data-testid="stMainBlockContainer"] [data-testid="stTable"] th,
[data-testid="stMainBlockContainer"] [data-testid="stTable"] td { font-size: 1.2rem; color: #111; }
[data-testid="stMainBlockContainer"] [data-testid="stCode"] code { font-size: 1.1rem; }
</style>
"""


def _palette_name() -> str:
    """The figures' palette for the session whose script is running (screen outside a script run)."""
    if get_script_run_ctx(suppress_warning=True) is None:
        return palette.SCREEN.name
    return palette.PRESENTER.name if state.presenting() else palette.SCREEN.name


palette.set_chooser(_palette_name)


def table(data, *, hide_index: bool = False, formats: dict | None = None) -> None:
    """A small read-only table: st.dataframe on a screen (sortable, scrollable); in presenter mode st.table, whose
    HTML takes the presenter's type (st.dataframe draws on a canvas that no style sheet reaches). `formats`:
    column → format string, for both."""
    if not state.presenting():
        config = {column: st.column_config.NumberColumn(format=fmt) for column, fmt in (formats or {}).items()}
        st.dataframe(data, hide_index=hide_index, column_config=config or None)
        return
    styled = data.style.format({column: _python_format(fmt) for column, fmt in (formats or {}).items()})
    st.table(styled.hide(axis="index") if hide_index else styled)


def _python_format(fmt: str) -> str:
    """Streamlit's number formats as Python's: "localized" → thousands separated."""
    return "{:,}" if fmt == "localized" else fmt


def sidebar_state() -> str:
    """For st.set_page_config: a presenter's sidebar starts folded away (the arrow at the top left opens it)."""
    return "collapsed" if state.presenting() else "auto"


def navigation():
    """st.navigation from the catalogue, titles in the session's language; returns the page to run."""
    entries = {}
    sections = {}
    for section, pages in catalog.sections().items():
        sections[_(section)] = []
        for entry in pages:
            page = st.Page(entry.script, title=_(entry.title), icon=entry.icon, url_path=entry.id,
                           default=entry is catalog.PAGES[0])
            sections[_(section)].append(page)
            entries[entry.id] = entry
    page = st.navigation(sections, expanded=True)  # every page of the lesson in view, not ten and "View more"
    destination = st.session_state.pop(GO, None)
    if destination in entries and destination != page.url_path:
        # The link's other parameters belong to the page left, and the sidebar's bound widgets (model,
        # text, presenter mode) write theirs again on the next page: only the language is carried (Streamlit
        # refuses to set or clear a parameter bound to a widget). The session forgets the page's choices too,
        # so that the next stop opens exactly as its own link does.
        url.forget_view()
        _arrive(entries[destination])
        st.switch_page(entries[destination].script, query_params={state.LANG: state.language()})
    return page


def entry_of(page) -> catalog.PageEntry:
    """The catalogue's entry of the page st.navigation chose (the first page's path is empty)."""
    return catalog.BY_ID.get(page.url_path, catalog.PAGES[0])


# A replica that dies under nginx (deploy/) leaves its browsers connected again to another replica, which has
# no session for them: their page would stay drawn but dead. Once the connection is back and nginx names another
# replica than the one that served the page, the page loads again from its URL, which holds the view.
RECONNECT_JS = """<script>
(() => {
    if (window.__scopeReconnect) return;
    window.__scopeReconnect = true;
    const replica = () => fetch(location.origin + "/_stcore/health", {cache: "no-store"})
        .then((response) => response.headers.get("x-transformerscope-replica")).catch(() => null);
    let served = null, was = "CONNECTED";
    replica().then((name) => { served = name; });
    new MutationObserver(async () => {
        const app = document.querySelector('[data-testid="stApp"]');
        const now = app && app.getAttribute("data-test-connection-state");
        if (!now || now === was) return;
        const back = now === "CONNECTED";
        was = now;
        if (!back) return;
        const name = await replica();
        if (served && name && name !== served) location.reload();
    }).observe(document.body, {subtree: true, attributes: true, attributeFilter: ["data-test-connection-state"]});
})();
</script>"""


def decorate() -> None:
    if state.presenting():
        st.html(PRESENTER_CSS)
    if st.context.headers.get("X-Forwarded-For"):  # served through a proxy (deploy/nginx): replicas may fail over
        st.sidebar.html(RECONNECT_JS, unsafe_allow_javascript=True)


UNTRAINED = N_("This model is **untrained**: its weights are random numbers, so what it computes on this page is real "
               "arithmetic without learned meaning. Compare it with a trained model.")


def page(entry: catalog.PageEntry, body: Callable[[presets.Preset | None], None], *,
         formula: Callable[[], None] | None = None, bar_last: bool = False) -> None:
    """A page: its title and the lesson bar, its explanation (then `formula`, if any), its presets and the note of
    the one loaded, the warning where the page's numbers need a trained model and the chosen one is not, then
    `body(preset)`; under it all, what the model and the page took. A model that cannot serve the page gets a
    message and models that can instead. `bar_last`: the body finds the lesson's steps (the Attention page ranks
    its heads), so the bar is drawn after it, in its place under the title."""
    if not model_serves(entry):
        return
    with cost_said():
        page_title(entry)
        bar = st.container() if bar_last else None
        if bar is None:
            lesson_bar(entry)
        st.markdown(state.explain(entry.id))
        if formula is not None:
            formula()
        preset = presets.preset_buttons(entry.id) if presets.for_page(entry.id) else None
        if entry.learned and not spec_of(state.model_name()).trained:
            st.warning(_(UNTRAINED))  # instead of the preset's note: an untrained model has no point to make
        elif preset is not None and preset.note:
            st.info(_(preset.note))
        body(preset)
        if bar is not None:
            with bar:
                lesson_bar(entry)


def page_header(entry: catalog.PageEntry) -> None:
    """The page's title; on the lesson path, previous/next under it and what to notice here."""
    page_title(entry)
    lesson_bar(entry)


def page_title(entry: catalog.PageEntry) -> None:
    st.title(f"{entry.icon} {_(entry.title)}")


# ---------------------------------------------------------------- the lesson path

GO = "_lesson_go"  # a page id the lesson's previous/next asked for, opened at the start of the next run


@dataclass(frozen=True)
class Steps:
    """A page's steps that the lesson's previous/next go through before they leave the page: the
    session/URL key of its step control, what one step is called, and how many there are. Where a step is
    more than the key's value (a ranked head is a layer and a head), `now` says which step is shown (None:
    none of them) and `go` shows one."""

    key: str
    name: str  # N_()
    count: Callable[[], int]
    now: Callable[[], int | None] | None = None
    go: Callable[[int], None] | None = None
    first: int = 0  # the value of the first step (1 where the control counts from 1)


def step_label(steps: Steps, index: int, count: int) -> str:
    """"step 4 of 7", "ranked head 2 of 5": steps are counted from 1, as a class counts them."""
    return _("{what} {number} of {count}").format(what=_(steps.name), number=index + 1, count=count)


def _ranked() -> tuple:
    """The heads the Attention page ranked for its query when it was last drawn, best first."""
    return tuple(st.session_state.get(state.RANKED_HEADS, ()))


def _ranked_now() -> int | None:
    shown = (st.session_state.get(state.LAYER), st.session_state.get(state.HEAD))
    return _ranked().index(shown) if shown in _ranked() else None


def _open_ranked(index: int) -> None:
    st.session_state[state.LAYER], st.session_state[state.HEAD] = _ranked()[index]
    st.session_state.pop(state.HEAD_MODE, None)  # one head, not the average over heads


# The generic step hook: a page with steps registers them here (register_steps), by page id. On Attention
# the steps are the heads its ranking found for the query (“it” → “animal” first), not heads 0, 1, 2 ….
STEPS: dict[str, Steps] = {
    "attention": Steps(state.HEAD, N_("ranked head"), lambda: len(_ranked()), _ranked_now, _open_ranked),
    "attention_math": Steps(state.AM_STEP, N_("step"), lambda: len(STAGES), first=1),
}


def register_steps(page_id: str, steps: Steps) -> None:
    STEPS[page_id] = steps


def step_now(page_id: str) -> tuple[Steps, int | None, int] | None:
    """(steps, current index or None if the page shows none of them, count) of the page's steps, or None if it
    has none (or only one)."""
    steps = STEPS.get(page_id)
    count = steps.count() if steps is not None else 0
    if count < 2:
        return None
    if steps.now is not None:
        return steps, steps.now(), count
    value = st.session_state.get(steps.key, st.query_params.get(steps.key, steps.first))
    try:
        value = int(value) - steps.first
    except (TypeError, ValueError):
        value = 0
    return steps, min(max(value, 0), count - 1), count


def _next_step(now: tuple[Steps, int | None, int] | None, delta: int) -> int | None:
    """The step previous/next shows inside the page, or None where it leaves the page; from a view that is none
    of the steps, next goes to the first."""
    if now is None:
        return None
    _steps, index, count = now
    if index is None:
        return 0 if delta > 0 else None
    return index + delta if 0 <= index + delta < count else None


def move(page_id: str, delta: int) -> None:
    """Previous (-1) or next (+1): through the page's steps first, then to the neighbouring stop."""
    now = step_now(page_id)
    step = _next_step(now, delta)
    if step is not None:
        steps = now[0]
        if steps.go is not None:
            steps.go(step)
        else:
            st.session_state[steps.key] = step + steps.first
        return
    previous, following = catalog.lesson_neighbours(page_id)
    destination = following if delta > 0 else previous
    if destination is not None:
        st.session_state[GO] = destination.id


def _destination(page_id: str, delta: int) -> str | None:
    """What previous/next will show, in words; None where the path ends."""
    now = step_now(page_id)
    step = _next_step(now, delta)
    if step is not None:
        return step_label(now[0], step, now[2])
    previous, following = catalog.lesson_neighbours(page_id)
    destination = following if delta > 0 else previous
    return None if destination is None else _(destination.title)


def notice_name(page_id: str) -> str:
    return f"notice_{page_id}"


def lesson_bar(entry: catalog.PageEntry) -> None:
    """◀ previous · stop n of N · next ▶ (Page Up / Page Down, a presenter's clicker, press them), and what
    to notice at this stop."""
    stops = catalog.lesson()
    if entry not in stops:
        return
    back, forward = _destination(entry.id, -1), _destination(entry.id, +1)
    row = st.container(horizontal=True, vertical_alignment="center", key="lesson-bar")
    row.button("◀ " + (back or _("Previous")), key="lesson-previous", on_click=move, args=(entry.id, -1),
               disabled=back is None, shortcut="PageUp", help=_("Previous on the lesson path (Page Up)"))
    where = _("Lesson: stop {number} of {count}").format(number=stops.index(entry) + 1, count=len(stops))
    now = step_now(entry.id)
    if now is not None and now[1] is not None:
        where += " · " + step_label(*now)
    row.caption(where)
    row.button((forward or _("Next")) + " ▶", key="lesson-next", on_click=move, args=(entry.id, +1),
               disabled=forward is None, shortcut="PageDown", help=_("Next on the lesson path (Page Down)"))
    if i18n.explanation_path(notice_name(entry.id), i18n.SOURCE_LANGUAGE).exists():
        with st.expander(_("What to notice"), expanded=state.presenting(), icon="👀"):
            st.markdown(state.explain(notice_name(entry.id)))


DETOUR = "_lesson_detour"  # (page id, (model, text, text2) before, (model, text) of the stop's example)


def _arrive(entry: catalog.PageEntry) -> None:
    """Where the path changed the model and text for a stop (a translator for Encoder–decoder), it puts the
    lesson's own back when it leaves, unless the person changed them there; and where the chosen model cannot
    serve the next stop, it opens the stop on its own example, so that the path never ends in a dead stop."""
    detour = st.session_state.pop(DETOUR, None)
    if detour is not None and (state.model_name(), state.text()) == detour[2] and detour[0] != entry.id:
        model, text, text2 = detour[1]
        state.set_model(model)
        state.set_text(text)
        state.set_text2(text2)
    elif detour is not None:
        st.session_state[DETOUR] = detour
    if entry.needs is None or spec_of(state.model_name()).can(entry.needs):
        return
    example = next((p for p in presets.for_page(entry.id) if p.text is not None and p.model is not None
                    and spec_of(p.model).can(entry.needs) and spec_of(p.model).available()), None)
    if example is not None:
        before = (state.model_name(), state.text(), state.text2())
        presets.apply(example)
        st.session_state[DETOUR] = (entry.id, before, (state.model_name(), state.text()))


def model_serves(entry: catalog.PageEntry) -> bool:
    """True if the chosen model has what the page needs; else say so and offer models that do."""
    if entry.needs is None:
        return True
    spec = spec_of(state.model_name())
    if spec.can(entry.needs):
        return True
    page_header(entry)
    st.info(_("{model} cannot be shown on this page: {reason}").format(
        model=_(spec.title), reason=_(NEEDS[entry.needs])))
    for name in _models_with(entry.needs):
        st.button(_("Switch to {model}").format(model=_(spec_of(name).title)), key=f"switch-{name}",
                  on_click=state.set_model, args=(name,))
    return False


def _models_with(capability: Capability) -> list[str]:
    """Installed models that have `capability`, trained ones first."""
    ranked = sorted(MODELS.values(), key=lambda spec: not spec.trained)
    return [spec.name for spec in ranked if spec.can(capability) and spec.available()]


NEEDS = {
    Capability.NEXT_TOKEN: N_(
        "it has no language-model head, so it does not predict next tokens (an encoder reads the whole text "
        "at once and turns every token into a vector)."),
    Capability.CROSS_ATTENTION: N_("it has no encoder–decoder cross-attention."),
}


@contextlib.contextmanager
def cost_said():
    """Around a page: afterwards say, small, what the model took for the text the page traced and what the
    page took to draw, so that a person sees the cost grow with the length of the text. A page that says
    it beside its own figure (the Attention page) sets state.COST_SAID instead."""
    st.session_state.pop(state.TRACED, None)
    st.session_state.pop(state.COST_SAID, None)
    started = time.perf_counter()
    yield
    traced = st.session_state.get(state.TRACED)
    if traced is None or st.session_state.get(state.COST_SAID) or state.presenting():  # a projector shows the lesson
        return
    key, tokens = traced
    parts = [_("{count:,} tokens").format(count=tokens)]
    seconds = trace_seconds(*key)
    if seconds is not None:
        parts.append(_("model {seconds:.2f} s").format(seconds=seconds))
    parts.append(_("page {seconds:.2f} s").format(seconds=time.perf_counter() - started))
    st.caption(" · ".join(parts))


LOG = logging.getLogger(__name__)
ERROR_MESSAGE = N_("Something went wrong on this page; the details are in the server's log. Try another text or model, "
                   "or reload the page.")


def say_errors_in_the_viewers_language() -> None:
    """Where viewers are shown no exception details (the served app's .streamlit/config.toml), an exception a
    page did not handle, in its script or in a fragment, is said in the session's language instead of Streamlit's
    English box; Streamlit still logs its traceback on the server. Elsewhere (a developer's run, the tests) the
    exception shows as usual. Called on every run: the handler belongs to the session's script-run context."""
    ctx = get_script_run_ctx()
    if ctx is not None and str(streamlit_config.get_option("client.showErrorDetails")).lower() in ("none", "false"):
        ctx.on_script_error = _say_error


def _say_error(error: Exception) -> bool:
    LOG.error("A page failed for a viewer (language %s, model %s): %s: %s; Streamlit logged its traceback",
              state.language(), state.model_name(), type(error).__name__, error)
    st.error(_(ERROR_MESSAGE), icon="⚠️")
    return True  # Streamlit's own English box is not shown
