"""The link's query parameters: which ones the app reads, what a valid value of each looks like, and the check a
session's first run makes of them (invalid or hostile values become defaults, each with a visible notice).

The parameters' names and the session's state are in viz/state.py; the bounds of the experiments' controls come
from the core modules that define them, imported here only, so that reading the session imports no experiment.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st
from streamlit.runtime.state.session_state_proxy import get_session_state

from core import MODELS, N_, Message
from core.lessons import life, prompting
from core.lessons.ablation import ABLATION_MODES
from core.lessons.decoding import MAX_STEPS as MAX_DECODE_STEPS
from core.lessons.head_scores import KINDS as HEAD_SCORES
from core.lessons.position_experiments import ORDERS  # how the Positional-encoding page reorders the tokens of the text
from core.text.bpe_training import MAX_MERGES, MERGE_CHOICES
from core.training import live_training as live

from . import i18n, state

MAX_ABLATED = 64  # heads a link may switch off
ABLATE_PATTERN = r"\d{1,4}(,\d{1,4}){0," + str(MAX_ABLATED - 1) + "}"  # "0,3,5"
NOTICES = "_url_notices"
CHECKED = "_url_checked"


def _is_int(low: int, high: int) -> Callable[[str], bool]:
    def check(raw: str) -> bool:
        return raw.isdigit() and low <= int(raw) <= high
    return check


def _is_float(low: float, high: float) -> Callable[[str], bool]:
    def check(raw: str) -> bool:
        try:
            value = float(raw)
        except ValueError:
            return False
        return math.isfinite(value) and low <= value <= high
    return check


@dataclass(frozen=True)
class UrlParam:
    key: str
    valid: Callable[[str], bool]
    expected: str  # what a valid value looks like, for the notice


# Layer, head and query token are checked against the model's size where they are used (`state.index`).
URL_PARAMS = {p.key: p for p in (
    UrlParam(state.LANG, lambda raw: raw in i18n.LANGUAGES, " / ".join(i18n.LANGUAGES)),
    UrlParam(state.MODEL, lambda raw: raw in MODELS, ", ".join(MODELS)),
    UrlParam(state.TEXT, lambda raw: 0 < len(raw) <= state.MAX_TEXT_CHARS, f"1–{state.MAX_TEXT_CHARS:,} characters"),
    UrlParam(state.TEXT2, lambda raw: 0 < len(raw) <= state.MAX_TEXT_CHARS, f"1–{state.MAX_TEXT_CHARS:,} characters"),
    UrlParam(state.PRESENT, lambda raw: raw in ("true", "false"), "true / false"),
    UrlParam(state.LAYER, _is_int(0, 10_000), "0, 1, 2, …"),
    UrlParam(state.HEAD, _is_int(0, 10_000), "0, 1, 2, …"),
    UrlParam(state.QUERY, lambda raw: len(raw) <= 200, "a token of the text"),
    UrlParam(state.ATTENTION, lambda raw: raw in state.ATTENTION_KINDS, " / ".join(state.ATTENTION_KINDS)),
    UrlParam(state.SCALE, lambda raw: raw in state.SCALES, " / ".join(state.SCALES)),
    UrlParam(state.TEMPERATURE, _is_float(0.05, 5.0), "0.05–5"),
    UrlParam(state.TOP_K, _is_int(0, 1000), "0–1000"),
    UrlParam(state.TOP_P, _is_float(0.05, 1.0), "0.05–1"),
    UrlParam(state.SEED, _is_int(0, state.MAX_SEED), f"0–{state.MAX_SEED:,}"),
    UrlParam(state.PE_D, lambda raw: _is_int(*state.PE_D_RANGE)(raw) and int(raw) % 2 == 0,
             f"an even number, {state.PE_D_RANGE[0]}–{state.PE_D_RANGE[1]}"),
    UrlParam(state.PE_LEN, _is_int(*state.PE_LEN_RANGE), f"{state.PE_LEN_RANGE[0]}–{state.PE_LEN_RANGE[1]}"),
    UrlParam(state.PE_DIM, _is_int(0, state.PE_D_RANGE[1] - 1), f"0–{state.PE_D_RANGE[1] - 1}"),
    UrlParam(state.ORDER, lambda raw: raw in ORDERS, " / ".join(ORDERS)),
    UrlParam(state.PAD, lambda raw: 0 < len(raw) <= state.MAX_TEXT_CHARS, f"1–{state.MAX_TEXT_CHARS:,} characters"),
    UrlParam(state.CORPUS, lambda raw: raw in ("lesson", "own"), "lesson / own"),
    UrlParam(state.MERGES, lambda raw: raw in {str(n) for n in MERGE_CHOICES}, " / ".join(map(str, MERGE_CHOICES))),
    UrlParam(state.STEP, _is_int(0, MAX_MERGES), f"0–{MAX_MERGES:,}"),
    UrlParam(state.TOKEN, _is_int(0, 10_000), "0, 1, 2, … (a token's position)"),
    UrlParam(state.HIDDEN, _is_int(0, 10_000), "0, 1, 2, … (a layer)"),
    UrlParam(state.AM_STEP, _is_int(1, 7), "1–7"),
    UrlParam(state.AM_SEED, _is_int(0, state.MAX_SEED), f"0–{state.MAX_SEED:,}"),
    UrlParam(state.AM_DK, _is_int(2, 4), "2–4"),
    UrlParam(state.AM_N, _is_int(3, 6), "3–6"),
    UrlParam(state.AM_CAUSAL, lambda raw: raw in ("true", "false"), "true / false"),
    UrlParam(state.AM_QUERY, _is_int(0, 5), "0–5 (a token's position)"),
    UrlParam(state.ABLATE, lambda raw: re.fullmatch(ABLATE_PATTERN, raw) is not None,
             "heads as 0,3,5"),
    UrlParam(state.ABLATE_MODE, lambda raw: raw in ABLATION_MODES, " / ".join(ABLATION_MODES)),
    UrlParam(state.LATER, _is_int(0, 10_000), "0, 1, 2, … (0: the layer after the chosen one)"),
    UrlParam(state.POSITION, _is_int(0, 10_000), "0, 1, 2, … (a token's position)"),
    UrlParam(state.NORM_AT, lambda raw: raw in ("attn", "mlp"), "attn / mlp"),
    UrlParam(state.FF_ALL, lambda raw: raw in ("true", "false"), "true / false"),
    UrlParam(state.PATTERN, lambda raw: raw in life.PATTERNS, " / ".join(life.PATTERNS)),
    UrlParam(state.TARGET, lambda raw: 0 < len(raw) <= state.MAX_TARGET_CHARS,
             f"1–{state.MAX_TARGET_CHARS:,} characters"),
    UrlParam(state.DECODE_STEP, _is_int(1, MAX_DECODE_STEPS), f"1–{MAX_DECODE_STEPS}"),
    UrlParam(state.TR_TASK, lambda raw: raw in live.TASKS, " / ".join(live.TASKS)),
    UrlParam(state.TR_LAYERS, _is_int(*live.LAYERS), "{}–{}".format(*live.LAYERS)),
    UrlParam(state.TR_D, lambda raw: raw in {str(d) for d in live.D_MODELS}, " / ".join(map(str, live.D_MODELS))),
    UrlParam(state.TR_HEADS, lambda raw: raw in {str(h) for h in live.HEADS}, " / ".join(map(str, live.HEADS))),
    UrlParam(state.TR_STEPS, lambda raw: _is_int(*live.STEPS)(raw) and int(raw) % 10 == 0,
             "{}–{}, a multiple of 10".format(*live.STEPS)),
    UrlParam(state.TR_BATCH, lambda raw: raw in {str(b) for b in state.TR_BATCHES},
             " / ".join(map(str, state.TR_BATCHES))),
    UrlParam(state.TR_SOURCE, lambda raw: raw in ("lesson", "own"), "lesson / own"),
    UrlParam(state.HEAD_SCORE, lambda raw: raw in HEAD_SCORES, " / ".join(HEAD_SCORES)),
    UrlParam(state.ICL_OFF, _is_int(0, state.MAX_ICL_OFF), f"0–{state.MAX_ICL_OFF}"),
    UrlParam(state.PR_TASK, lambda raw: raw in prompting.TASKS, " / ".join(prompting.TASKS)),
    UrlParam(state.PR_LANG, lambda raw: raw in prompting.LANGUAGES, " / ".join(prompting.LANGUAGES)),
    UrlParam(state.PR_FORMAT, lambda raw: raw in prompting.FORMATS, " / ".join(prompting.FORMATS)),
    UrlParam(state.PR_SHOTS, lambda raw: raw in {str(k) for k in prompting.SHOTS}, " / ".join(map(str, prompting.SHOTS))),
    UrlParam(state.PR_EXAMPLE, _is_int(0, 999), "0, 1, 2, … (a held-out question)"),
    UrlParam(state.PR_SEED, _is_int(0, prompting.MAX_SEED), f"0–{prompting.MAX_SEED}"),
    UrlParam(state.CLASS, lambda raw: len(raw) == 4 and raw.isascii() and raw.isalnum() and raw.isupper(),
             "a class code of 4 capital letters and digits"),
    UrlParam(state.ROLE, lambda raw: raw in state.ROLES, " / ".join(state.ROLES)),
    UrlParam(state.FOLLOW, lambda raw: len(raw) == 4 and raw.isascii() and raw.isalnum() and raw.isupper(),
             "a class code of 4 capital letters and digits"),
    UrlParam(state.LEAD, lambda raw: len(raw) == 4 and raw.isascii() and raw.isalnum() and raw.isupper(),
             "a class code of 4 capital letters and digits"),
)}


def check_url() -> None:
    """On a session's first run, replace invalid link values by defaults, each with a notice."""
    if st.session_state.get(CHECKED):
        return
    st.session_state[CHECKED] = True
    notices = []
    for key in list(st.query_params):
        raw = st.query_params.get(key, "")
        param = URL_PARAMS.get(key)
        if param is None:
            notices.append(Message(N_("The link's parameter “{key}” is not one this app reads; it was left out."),
                                   key=key[:40]))
            _replace_in_link(key, None)
        elif key in (state.TEXT, state.TEXT2) and len(raw) > state.MAX_TEXT_CHARS:
            notices.append(Message(N_("The link's text was cut to its first {count:,} characters."),
                                   count=state.MAX_TEXT_CHARS) if key == state.TEXT else
                           Message(N_("The link's second text was cut to its first {count:,} characters."),
                                   count=state.MAX_TEXT_CHARS))
            _replace_in_link(key, raw[:state.MAX_TEXT_CHARS])
        elif not param.valid(raw):
            notices.append(Message(N_("The link's value for “{key}” is not valid ({expected}); the default is used."),
                                   key=key, expected=param.expected))
            _replace_in_link(key, None)
    st.session_state[NOTICES] = notices


def _replace_in_link(key: str, value: str | None) -> None:
    """Replace (or, with None, remove) a parameter in the URL and in the values Streamlit seeds bound
    widgets with on a session's first run: st.query_params alone leaves those, and a widget would still
    read the junk (a number input given ?top_k=1e309 raises inside Streamlit)."""
    with get_session_state().query_params() as params:
        if value is None:
            params.remove_param(key)
        else:
            params[key] = value
        params.set_initial_query_params_from_current()


def show_notices() -> None:
    """Notices about the link, shown once at the top of the page they arrived on."""
    for message in st.session_state.pop(NOTICES, []):
        st.warning(state.render(message), icon="🔗")


# What the lesson path carries from one stop to the next; any other choice belongs to the page left.
LESSON_CARRIES = (state.LANG, state.PRESENT, state.MODEL, state.TEXT, state.TEXT2, state.COMPARE, state.CLASS,
                  state.ROLE, state.FOLLOW, state.LEAD)


def forget_view() -> None:
    """Drop the choices of the page the lesson path leaves (its URL parameters, the layers and heads it
    remembered per model, what its ranking found), so that the next stop opens exactly as its own link does."""
    remembered = (f"{state.INDEX_MEMORY}-{key}" for key in state.INDEX_NAMES)
    for key in (*URL_PARAMS, state.INDEX_MEMORY, *remembered, state.OPEN_BEST, state.RANKED_HEADS, state.HEAD_MODE):
        if key not in LESSON_CARRIES:
            st.session_state.pop(key, None)
