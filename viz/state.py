"""Session state, and the names of the URL's query parameters.

Every choice that changes a view lives in the URL, so a teacher's link opens the
same page, model, text, language, layer, head and settings for a student at home.
Widgets are bound to their parameter (`bind="query-params"`, key = parameter name);
viz/url.py says what a valid value of each is and checks a link when a session opens it.

`_` translates an interface string into the session's language; pages import it from here.
"""

from __future__ import annotations

import streamlit as st

from core import MODELS, N_, Capability, available_models, trained_model
from core.runtime.language_model import MAX_TEXT_CHARS as CORE_MAX_TEXT_CHARS

from . import i18n

MODEL, TEXT, LANG, PRESENT = "model", "text", "lang", "present"
TEXT2 = "text2"  # compare mode: the second text of a minimal pair; its presence in the URL turns the mode on
COMPARE = "_compare"  # the sidebar's compare switch (session only: the URL says it by carrying text2)
LAYER, HEAD, QUERY, ATTENTION = "layer", "head", "q", "attn"
SCALE = "scale"  # the attention heat map's colour scale
SCALES = ("linear", "row", "log")  # as viz.figures.attention.SCALES (tests hold them equal)
TEMPERATURE, TOP_K, TOP_P, SEED = "temp", "top_k", "top_p", "seed"
PE_D, PE_LEN, PE_DIM, ORDER, PAD = "pe_d", "pe_len", "pe_dim", "order", "pad"
PE_D_RANGE, PE_LEN_RANGE = (4, 512), (8, 512)  # the sinusoid's controls: bounded, so a link cannot ask for a huge table
CORPUS, MERGES, STEP, TOKEN, HIDDEN = "corpus", "merges", "step", "token", "hidden"
# Self-attention step by step (the worked example), switching heads off, which tokens mattered
AM_STEP, AM_SEED, AM_DK, AM_N, AM_CAUSAL, AM_QUERY = "am_step", "am_seed", "am_dk", "am_n", "am_causal", "am_q"
ABLATE, ABLATE_MODE, LATER, POSITION = "off", "ablate", "later", "pos"
NORM_AT, FF_ALL = "norm_at", "ff_all"  # Inside a block: which norm is studied; every installed model's feed-forward
PATTERN = "pattern"  # the Game of Life's starting pattern (core.lessons.life.PATTERNS)
# Encoder–decoder: the target the decoder reads (empty: the model's own translation), the decoding step shown,
# and the source text the typed target was written for (a new source empties it)
TARGET, DECODE_STEP, TARGET_FOR = "tgt", "dstep", "_target_for"
MAX_TARGET_CHARS = 1_000
# Watch a Transformer learn: the task, the model's sizes, the training, the character model's text
TR_TASK, TR_LAYERS, TR_D, TR_HEADS = "tr_task", "tr_layers", "tr_d", "tr_heads"
TR_STEPS, TR_BATCH, TR_SOURCE = "tr_steps", "tr_batch", "tr_text"
TR_BATCHES = (8, 16, 32, 64, 128)
HEAD_SCORE, ICL_OFF = "score", "icl_off"  # Head finder: the score whose grid is shown; induction heads switched off
MAX_ICL_OFF = 12
# Prompting: the task, the language it is asked in, the format, the demonstrations, the held-out question, the seed
PR_TASK, PR_LANG, PR_FORMAT, PR_SHOTS, PR_EXAMPLE, PR_SEED = "pr_task", "pr_lang", "pr_fmt", "pr_k", "pr_ex", "pr_seed"
CLASS, ROLE = "class", "role"  # predict, then reveal: a question's class code; who opened it (viz.views.classroom)
FOLLOW, LEAD = "follow", "lead"  # follow the presenter: the class a student's screen follows; the one a teacher's leads
ROLES = ("teacher", "student")
DEFAULT_TEXT = "The animal didn't cross the street because it was too tired"
# The Chinese default, for a model that reads Chinese: its last token 她 looks back at 小红 (not 小明) in
# Gemma 3's heads (tests/test_chinese_default.py measures it), and the next token continues the reason.
DEFAULT_TEXT_ZH = "小明把苹果给了小红，因为她"
# Enough characters for the longest text a model reads (2,048 tokens: about 9,000 characters of English
# prose); the URL carries it. The core cuts a text to the model's token budget with a notice.
MAX_TEXT_CHARS = CORE_MAX_TEXT_CHARS
MAX_SEED = 2**31 - 1
ATTENTION_KINDS = ("self", "cross", "encoder")
OPEN_BEST = "_open_best_head"  # set by a preset: the Attention page opens the head that shows its point
HEAD_MODE = "attention_heads"  # the Attention page's one head / average over heads
RANKED_HEADS = "_ranked_heads"  # ((layer, head), …) the Attention page ranked for its query: the lesson's steps
INDEX_MEMORY = "_indices"  # (model, "layer" / "head") -> the last value shown
TRACED = "_traced"  # ((model, text, target), tokens) of the trace this run's page read, for the cost it says
COST_SAID = "_cost_said"
TRAINED_MODELS = "_trained_models"  # names of the models this session trained and kept to study


# ---------------------------------------------------------------- language


def language() -> str:
    """The session's language: the sidebar's choice, else the link's `lang`, else the browser's, else English."""
    chosen = st.session_state.get(LANG)
    if chosen in i18n.LANGUAGES:
        return chosen
    linked = st.query_params.get(LANG)
    if linked in i18n.LANGUAGES:
        return linked
    return i18n.language_of_locale(getattr(st.context, "locale", None)) or i18n.DEFAULT_LANGUAGE


def _(message: str) -> str:
    """`message` (English, as written in the source) in the session's language."""
    return i18n.translator(language())(message)


def translator() -> i18n.Translate:
    """The session's translating function itself, for a widget's format_func: it is called again
    outside the script run (by AppTest, for one), where the session's language cannot be looked up."""
    return i18n.translator(language())


def explain(name: str) -> str:
    """A page's longer explanation (viz/explanations/<name>.<lang>.md) in the session's language."""
    return i18n.explanation(name, language())


def render(message) -> str:
    """A core `Message` or `ScopeError` in the session's language (its template translated, then filled)."""
    return message.render(_) if hasattr(message, "render") else _(str(message))


# ---------------------------------------------------------------- the URL


def index(key: str, count: int, scope: str = "") -> int:
    """A layer or head stored under `key`, from the session or the link, clamped into [0, count).

    Runs before its slider exists: a slider refuses a value out of its range. Each `scope` (a model)
    remembers its own value, so layer 20 of one model survives a visit to a model with 6 layers."""
    memory = st.session_state.setdefault(INDEX_MEMORY, {})
    if st.session_state.get(f"{INDEX_MEMORY}-{key}") != scope and (scope, key) in memory:
        st.session_state[key] = memory[(scope, key)]
    value = st.session_state.get(key)
    if value is None:
        raw = st.query_params.get(key)
        value = int(raw) if raw is not None and raw.isdigit() else 0
    shown = min(max(int(value), 0), count - 1)
    if shown != value:
        st.warning(_("There is no {what} {value} here (0 to {last}); showing {shown}.").format(
            what=_(INDEX_NAMES.get(key, key)), value=value, last=count - 1, shown=shown), icon="🔗")
    st.session_state[key] = memory[(scope, key)] = shown
    st.session_state[f"{INDEX_MEMORY}-{key}"] = scope
    return shown


INDEX_NAMES = {LAYER: N_("layer"), HEAD: N_("head"), PE_DIM: N_("dimension"), LATER: N_("later layer")}


def settle_choice(key: str, options, default) -> None:
    """Before a choice widget is drawn: keep the session's or the link's value if it is one of
    `options`, else put `default` there (a choice left from another text or model would be refused)."""
    value = st.session_state.get(key, st.query_params.get(key))
    st.session_state[key] = value if value in options else default


def link(key: str, value, default) -> None:
    """Write a choice into the URL by its value, not its label, so that a link works in every language
    (a bound widget would write the label its format_func shows). The default leaves the URL."""
    if value == default:
        if key in st.query_params:
            del st.query_params[key]
    else:
        st.query_params[key] = str(value)


# ---------------------------------------------------------------- model, text, presenter


def default_model() -> str:
    """In Chinese, the model that reads Chinese where one is installed; else the first installed model, in
    registry order, that is trained and predicts next tokens (every page can show it); else the first installed
    one. A model named by the link or chosen in the sidebar always wins: this is the default only."""
    if language() == "zh":
        reader = model_for_language("zh", Capability.NEXT_TOKEN)
        if reader is not None:
            return reader
    installed = [name for name, ok in available_models().items() if ok]
    preferred = [name for name in installed if MODELS[name].trained and MODELS[name].can(Capability.NEXT_TOKEN)]
    return (preferred or installed or list(MODELS))[0]


def model_for_language(language: str, needs: Capability | None = None) -> str | None:
    """The first installed, trained model (registry order) trained on `language` with what a page needs."""
    for name, spec in MODELS.items():
        if spec.trained and language in spec.languages and (needs is None or spec.can(needs)) and spec.available():
            return name
    return None


def session_models() -> list[str]:
    """The models this session trained and chose to study (viz/views/trained_model.py), while the registry keeps
    them: offered beside the installed ones to this session only."""
    return [name for name in st.session_state.get(TRAINED_MODELS, ()) if trained_model(name) is not None]


def add_session_model(name: str) -> None:
    st.session_state[TRAINED_MODELS] = [*st.session_state.get(TRAINED_MODELS, ()), name]


def model_names() -> list[str]:
    """Every model this session may study: the installed ones, then its own."""
    return [*MODELS, *session_models()]


def model_name() -> str:
    name = st.session_state.get(MODEL)
    return name if name in MODELS or name in session_models() else default_model()


def default_text() -> str:
    """The Chinese sentence where the session speaks Chinese and its model reads Chinese; else the English one."""
    reads_chinese = "zh" in getattr(MODELS.get(model_name()), "languages", ())
    return DEFAULT_TEXT_ZH if language() == "zh" and reads_chinese else DEFAULT_TEXT


def text() -> str:
    value = st.session_state.get(TEXT)
    return default_text() if value is None else str(value)


def set_text(value: str) -> None:
    """For presets: callbacks may set a bound widget's value before it is drawn."""
    st.session_state[TEXT] = value[:MAX_TEXT_CHARS]


def text2() -> str | None:
    """The second text of compare mode, or None when the mode is off (the sidebar seeds it from the link)."""
    if not st.session_state.get(COMPARE, TEXT2 in st.query_params):
        return None
    value = st.session_state.get(TEXT2, st.query_params.get(TEXT2))
    return str(value) if value else None


def set_text2(value: str | None) -> None:
    """For presets: a pair turns compare mode on with its second text; a single text turns it off."""
    if value is None:
        st.session_state[COMPARE] = False
        st.session_state.pop(TEXT2, None)
        if TEXT2 in st.query_params:
            del st.query_params[TEXT2]
    else:
        st.session_state[COMPARE] = True
        st.session_state[TEXT2] = value[:MAX_TEXT_CHARS]


def set_model(name: str) -> None:
    if name in model_names():
        st.session_state[MODEL] = name


def presenting() -> bool:
    return bool(st.session_state.get(PRESENT, st.query_params.get(PRESENT) == "true"))
