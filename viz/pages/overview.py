"""Overview: what the app is, and the loaded model drawn as one pipeline with its real sizes."""

import pandas as pd
import streamlit as st

from core.parameters import parameter_breakdown
from viz import state
from viz.figures.pipeline import make_pipeline_figure
from viz.loading import model_or_error

# GPT-1's sizes as published (Radford et al. 2018, section 4.1); seed 002 quotes the first three.
GPT1 = {
    "architecture": "decoder",
    "layers (blocks)": "12",
    "attention heads": "12",
    "d_model (vector size)": "768",
    "feed-forward width": "3,072",
    "vocabulary": "BPE, 40,000 merges",
    "context (tokens)": "512",
    "parameters": "117 M",
}
GPT1_SOURCE = (
    "GPT-1: Radford et al. (2018), *Improving Language Understanding by Generative Pre-Training*, section 4.1; "
    "its parameter count from Radford et al. (2019), the GPT-2 paper, Table 2, whose smallest model is GPT-1's size."
)


def model_column(lm) -> dict[str, str]:
    info, config = lm.info, lm.config
    layers = f"{config.encoder_layers} encoder + {info.n_layers} decoder" if info.architecture == "encoder-decoder" \
        else str(info.n_layers)
    heads = str(info.n_heads) + (f" ({info.n_kv_heads} key/value)" if info.n_kv_heads != info.n_heads else "")
    return {
        "architecture": info.architecture,
        "layers (blocks)": layers,
        "attention heads": heads,
        "d_model (vector size)": f"{info.d_model:,}",
        "feed-forward width": f"{info.d_ff:,}",
        "vocabulary": f"{info.tokenizer}, {info.vocab_size:,} tokens",
        "context (tokens)": f"{info.max_positions:,}",
        "parameters": f"{info.n_params / 1e6:,.1f} M ({info.n_params:,})",
    }


def breakdown_table(lm) -> pd.DataFrame:
    breakdown = parameter_breakdown(lm.module)
    rows = [(part, count) for part, count in breakdown.groups.items()]
    table = pd.DataFrame(rows, columns=["part", "parameters"])
    table["share"] = (table["parameters"] / breakdown.total).map("{:.1%}".format)
    if breakdown.tied_head:
        table.loc[table["part"] == "output head", "part"] = "output head (tied to embeddings)"
    return table


st.title("🔭 TransformerScope")
st.markdown(
    "A look inside real Transformer language models. Pick a **model** and type a **text** in the sidebar: every "
    "page runs that model on that text and shows what it computed — the tokens, the attention between them, and "
    "the probabilities of the next token. Every number on screen comes from the model itself. "
    "Share the page's link and others open the same model on the same text."
)

lm = model_or_error(state.model_name())
if lm is None:
    st.stop()

st.header(f"The pipeline of {lm.info.title}")
st.caption({
    "decoder": "A decoder predicts the next token: its output ends in a softmax over the vocabulary.",
    "encoder": "An encoder reads the whole text at once and stops at one vector per token: no softmax over a "
               "vocabulary, no next token.",
    "encoder-decoder": "The original Transformer: an encoder reads the source, and the decoder's cross-attention "
                       "looks at it while the decoder predicts the output one token at a time.",
}[lm.info.architecture])
st.plotly_chart(make_pipeline_figure(lm.config), key="overview_pipeline", config={"displayModeBar": False})

links = st.columns(3)
links[0].page_link("viz/pages/tokenization.py", label="Text → tokens", icon="🔤")
links[1].page_link("viz/pages/attention.py", label="Attention inside the blocks", icon="👀")
if lm.info.architecture != "encoder":
    links[2].page_link("viz/pages/next_token.py", label="Linear → softmax → next token", icon="🎲")

sizes, params = st.columns(2)
with sizes:
    st.subheader("Beside GPT-1")
    comparison = pd.DataFrame({lm.info.name: model_column(lm), "GPT-1 (2018)": GPT1})
    st.dataframe(comparison)
    st.caption(GPT1_SOURCE)
with params:
    st.subheader(f"{lm.info.n_params:,} parameters")
    table = breakdown_table(lm)
    st.dataframe(table, hide_index=True, column_config={"parameters": st.column_config.NumberColumn(format="localized")})
    per_block = table.loc[table["part"].isin(["blocks", "decoder blocks"]), "parameters"].item() // lm.info.n_layers
    st.caption(f"Counted from the loaded weights. Each of the {lm.info.n_layers} "
               f"{'decoder ' if lm.info.architecture == 'encoder-decoder' else ''}blocks has the same shape, "
               f"{per_block:,} parameters, with its own numbers.")
