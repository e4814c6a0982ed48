"""Multi-head attention: the model's shapes, each head's output and share of W_O's output, and heads switched
off (ablation, run by the core and cached) beside the plain run."""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import streamlit as st

from core import N_
from core.lessons.ablation import head_contributions
from core.numeric import softmax
from viz import export, state
from viz.figures.attention_math import make_step_matrix_figure
from viz.figures.multi_head import (
    make_ablation_attention_figure,
    make_ablation_distribution_figure,
    make_head_sharing_figure,
)
from viz.loading import get_ablated
from viz.state import _
from viz.tokens import labels_for
from viz.views.models import index_slider

MODES = {"zero": N_("zero: the head's output set to 0"), "mean": N_("mean: the head's output averaged over positions")}
TOP = 8  # candidate tokens shown: the plain run's and the ablated run's most likely


def shapes_section(config) -> None:
    d, nh, nkv, hs = config.d_model, config.n_heads, config.kv_heads, config.head_dim
    rows = [
        ("X", f"T × {d}"), ("W_Q", f"{d} × {nh}·{hs} = {d} × {nh * hs}"),
        ("W_K, W_V", f"{d} × {nkv}·{hs} = {d} × {nkv * hs}"), ("Z₁ … Z_h", f"{nh} × (T × {hs})"),
        ("Concat(Z₁ … Z_h)", f"T × {nh * hs}"), ("W_O", f"{nh * hs} × {d}"), (_("output"), f"T × {d}"),
    ]
    st.dataframe(pd.DataFrame(rows, columns=[_("matrix"), _("shape")]), hide_index=True)
    if nkv == nh:
        st.caption(_("Every query head has its own keys and values here ({nh} heads of {hs} numbers).").format(
            nh=nh, hs=hs))
    else:
        st.markdown(_("**Grouped-query attention**: {nh} query heads share {nkv} key/value heads, so the keys "
                      "and values a model must keep for every token shrink {g}-fold.").format(
            nh=nh, nkv=nkv, g=nh // nkv))
    export.chart(make_head_sharing_figure(nh, nkv, hs, _=state.translator()), key="mh-sharing")


@st.fragment
def explorer(lm, trace, explanation: str) -> None:
    """One layer: each head's output and share, then heads of that layer switched off."""
    layer = index_slider(_("Layer"), state.LAYER, lm.config.n_layers, lm.name)
    heads_section(lm, trace, layer)
    st.header(_("Switching heads off"))
    st.markdown(explanation)
    ablation_section(lm, trace, layer)


def heads_section(lm, trace, layer: int) -> None:
    tokens = labels_for(lm.tokenizer, trace.token_ids)
    query = len(tokens) - 1
    z = np.asarray(trace.layers[layer].self_attn.z[:, query], dtype=np.float32)  # (nh, hs)
    st.caption(_("Each head's output z at the last token, “{token}”: one row per head, {hs} numbers each. Read "
                 "row after row, they are the concatenation that W_O multiplies.").format(token=tokens[query],
                                                                                          hs=z.shape[1]))
    heads = [_("head {head}").format(head=h) for h in range(z.shape[0])]
    export.chart(make_step_matrix_figure(z, heads, [str(i) for i in range(z.shape[1])],
                                            _=state.translator()), key="mh-z")
    parts = head_contributions(lm, trace, layer, query)
    share = np.linalg.norm(parts, axis=1)
    st.dataframe(pd.DataFrame({_("head"): heads, _("‖z_h W_O,hᵀ‖: what the head adds"): share}), hide_index=True)


def _head_label(translate, head: int) -> str:
    return translate("head {head}").format(head=head)


def _mode_label(translate, mode: str) -> str:
    return translate(MODES[mode])


def _ablation_choice(n_heads: int) -> tuple[list[int], str]:
    raw = st.session_state.get(state.ABLATE, st.query_params.get(state.ABLATE, ""))
    chosen = raw if isinstance(raw, list) else [int(h) for h in str(raw).split(",") if h.isdigit()]
    st.session_state[state.ABLATE] = sorted({h for h in chosen if 0 <= h < n_heads})
    off = st.multiselect(_("Heads to switch off"), list(range(n_heads)), key=state.ABLATE, placeholder=_("Choose heads"),
                         format_func=partial(_head_label, state.translator()))
    if off:
        st.query_params[state.ABLATE] = ",".join(map(str, sorted(off)))
    elif state.ABLATE in st.query_params:
        del st.query_params[state.ABLATE]
    state.settle_choice(state.ABLATE_MODE, list(MODES), "zero")
    mode = st.radio(_("Switched off how"), list(MODES), key=state.ABLATE_MODE, horizontal=True,
                    format_func=partial(_mode_label, state.translator()))
    state.link(state.ABLATE_MODE, mode, "zero")
    return sorted(off), mode


def ablation_section(lm, trace, layer: int) -> None:
    config, tokens = lm.config, labels_for(lm.tokenizer, trace.token_ids)
    st.caption(_("Heads of layer {layer} (the layer chosen above).").format(layer=layer))
    off, mode = _ablation_choice(config.n_heads)
    later = None
    if layer + 1 < config.n_layers:
        later = index_slider(_("A later layer's attention"), state.LATER, config.n_layers - layer - 1,
                             lm.name) + layer + 1
    if not off:
        st.info(_("Choose heads to switch off: the model then runs again without them."))
        return
    run = get_ablated(lm.name, trace_text(), ((layer, tuple(off)),), mode)
    if run.last_logits is not None and trace.last_logits is not None:
        plain, ablated = softmax(trace.last_logits), softmax(run.last_logits)
        top = int(np.argmax(plain))
        picked = list(dict.fromkeys([*np.argsort(-plain)[:TOP], *np.argsort(-ablated)[:TOP // 2]]))
        labels = labels_for(lm.tokenizer, [int(i) for i in picked])
        left, right = st.columns(2)
        left.metric(_("P(“{token}”), the plain run's top token").format(token=labels[0]), f"{ablated[top]:.4f}",
                    f"{ablated[top] - plain[top]:+.4f}")
        new_top = int(np.argmax(ablated))
        right.metric(_("Top token with the heads off"), labels_for(lm.tokenizer, [new_top])[0],
                     f"{ablated[new_top]:.4f}", delta_color="off")
        export.chart(make_ablation_distribution_figure(labels, plain[picked], ablated[picked],
                                                          _=state.translator()), key="mh-distribution")
    else:
        cosine = float(np.dot(run.last_hidden, _plain_hidden(trace)) /
                       (np.linalg.norm(run.last_hidden) * np.linalg.norm(_plain_hidden(trace)) + 1e-12))
        st.metric(_("Cosine of the last token's output vector, plain against heads off"), f"{cosine:.4f}")
    if later is None:
        st.caption(_("The last layer has no later layer whose attention could change."))
        return
    query = len(tokens) - 1
    st.caption(_("Where the last token looks in layer {layer}, every head, before and after.").format(layer=later))
    export.chart(make_ablation_attention_figure(trace.layers[later].self_attn.query_rows(query),
                                                   run.query_rows(later, query), tokens, _=state.translator()),
                    key="mh-later")


def trace_text() -> str:
    return state.text()


def _plain_hidden(trace) -> np.ndarray:
    final = trace.stack.final_norm
    stream = trace.hidden_states[-1] if final is None else final
    return np.asarray(stream[-1], dtype=np.float32)
