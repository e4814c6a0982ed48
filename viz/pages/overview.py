"""Overview: what the app is, and the loaded model drawn as one pipeline with its real sizes."""

import pandas as pd
import streamlit as st

from core import N_
from viz import catalog, export, frame, state
from viz.figures.pipeline import make_pipeline_figure
from viz.glossary import tokenizer_name
from viz.loading import model_or_error
from viz.state import _

# GPT-1's sizes as published (Radford et al. 2018, section 4.1); source article 002 quotes the first three.
GPT1 = {
    N_("architecture"): N_("decoder"),
    N_("layers (blocks)"): "12",
    N_("attention heads"): "12",
    N_("d_model (vector size)"): "768",
    N_("feed-forward width"): "3,072",
    N_("vocabulary"): N_("BPE, 40,000 merges"),
    N_("context (tokens)"): "512",
    N_("parameters"): "117 M",
}
ARCHITECTURE_NOTES = {
    "decoder": N_("A decoder predicts the next token: its output ends in a softmax over the vocabulary."),
    "encoder": N_("An encoder reads the whole text at once and stops at one vector per token: no softmax over a "
                  "vocabulary, no next token."),
    "encoder-decoder": N_("The original Transformer: an encoder reads the source, and the decoder's "
                          "cross-attention looks at it while the decoder predicts the output one token at a time."),
}


def model_column(lm) -> list[str]:
    info, config = lm.info, lm.config
    layers = _("{encoder} encoder + {decoder} decoder").format(encoder=config.encoder_layers, decoder=info.n_layers) \
        if info.architecture == "encoder-decoder" else str(info.n_layers)
    heads = str(info.n_heads) + (" " + _("({count} key/value)").format(count=info.n_kv_heads)
                                 if info.n_kv_heads != info.n_heads else "")
    return [_(info.architecture), layers, heads, f"{info.d_model:,}", f"{info.d_ff:,}",
            _("{kind}, {count:,} tokens").format(kind=tokenizer_name(info.tokenizer, _), count=info.vocab_size),
            f"{info.max_positions:,}", f"{info.n_params / 1e6:,.1f} M ({info.n_params:,})"]


def breakdown_table(lm) -> pd.DataFrame:
    breakdown = lm.parameters
    names = [_(part) for part in breakdown.groups]
    if breakdown.tied_head:
        names = [_("output head (tied to embeddings)") if part == "output head" else name
                 for part, name in zip(breakdown.groups, names)]
    table = pd.DataFrame({_("part"): names, _("parameters"): list(breakdown.groups.values())})
    table[_("share")] = (table[_("parameters")] / breakdown.total).map("{:.1%}".format)
    return table


def body(preset) -> None:
    lm = model_or_error(state.model_name())
    if lm is None:
        st.stop()

    st.header(_("The pipeline of {model}").format(model=_(lm.info.title)))
    st.caption(_(ARCHITECTURE_NOTES[lm.info.architecture]))
    export.show(make_pipeline_figure(lm.config, _), key="overview_pipeline", config={"displayModeBar": False})

    links = st.container(horizontal=True, wrap=True, key="overview-links")  # each link its whole title, wrapping rows
    for entry in catalog.PAGES[1:]:
        links.page_link(entry.script, label=_(entry.title), icon=entry.icon, help=_(entry.summary))

    sizes, params = st.columns(2)
    with sizes:
        st.subheader(_("Beside GPT-1"))
        comparison = pd.DataFrame({lm.info.name: model_column(lm), _("GPT-1 (2018)"): [_(v) for v in GPT1.values()]},
                                  index=[_(k) for k in GPT1])
        frame.table(comparison)
        st.caption(_("GPT-1: Radford et al. (2018), *Improving Language Understanding by Generative Pre-Training*, "
                     "section 4.1; its parameter count from Radford et al. (2019), the GPT-2 paper, Table 2, whose "
                     "smallest model is GPT-1's size."))
    with params:
        st.subheader(_("{count:,} parameters").format(count=lm.info.n_params))
        frame.table(breakdown_table(lm), hide_index=True, formats={_("parameters"): "localized"})
        blocks = lm.parameters.groups.get("blocks", lm.parameters.groups.get("decoder blocks", 0))
        st.caption(_("Counted from the loaded weights. Each of the {count} blocks has the same shape, {size:,} "
                     "parameters, with its own numbers.").format(count=lm.info.n_layers,
                                                                 size=blocks // lm.info.n_layers))


frame.page(catalog.BY_ID["overview"], body)
