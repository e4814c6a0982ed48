"""Export: every figure saves as PNG or SVG from Plotly's own modebar (in the browser, no image engine on the
server), with a file name that says what it shows; the data behind a view downloads as CSV, and a whole trace
as a compressed .npz.

- `chart(fig, key, parts)`: st.plotly_chart with the modebar's camera button saving
  "<model>_<page>_<parts…>.png" (or .svg: the sidebar's choice, `format_picker`), the figure dressed for a room
  in presenter mode (`palette.dressed`). Plotly's modebar has one image button with one format, so the format
  is a setting rather than a second button.
- `show(fig, ...)`: st.plotly_chart of the figure as the session shows it, for figures without a download name.
- `csv_button(...)`, `trace_button(...)`: st.download_button whose file is built only when it is clicked
  (Streamlit's deferred download), so a page run never pays for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core.lessons import export as core_export

from . import state
from .figures import palette
from .state import _

FORMAT_KEY = "figure_format"
FORMATS = ("png", "svg")
PNG_SCALE = 2  # a sharper image for slides than the screen's pixels


def format_picker() -> None:
    """One sidebar setting for every figure's download button (it changes no view, so it stays out of the URL)."""
    st.radio(_("Figures download as"), FORMATS, key=FORMAT_KEY, horizontal=True, format_func=str.upper,
             help=_("Hover over a figure and click the camera in its toolbar to save it."))


def slug(part) -> str:
    """A piece of a file name: letters, digits, dots and dashes; anything else becomes one dash."""
    text = re.sub(r"<[^>]*>", " ", str(part))
    return re.sub(r"[^\w.]+", "-", text, flags=re.UNICODE).strip("-.")[:60]


def page_id() -> str:
    """The URL path of the page being run ("" for the first page)."""
    ctx = get_script_run_ctx()
    try:
        return ctx.pages_manager.get_pages()[ctx.page_script_hash]["url_pathname"] or "overview"
    except (AttributeError, KeyError, TypeError):
        return ""


def file_name(*parts) -> str:
    """"<model>_<page>_<parts…>": what the file shows, safe on every file system."""
    pieces = [slug(p) for p in (state.model_name(), page_id(), *parts)]
    return "_".join(p for p in pieces if p) or "figure"


def image_config(name: str, config: dict | None = None) -> dict:
    """A Plotly config whose modebar shows and saves the image as `name` in the chosen format."""
    chosen = st.session_state.get(FORMAT_KEY, "png")
    merged = {**(config or {})}
    merged.pop("displayModeBar", None)  # shown on hover: the download button must be reachable
    merged.update(displaylogo=False, toImageButtonOptions={
        "format": chosen if chosen in FORMATS else "png", "filename": name, "scale": PNG_SCALE if chosen == "png" else 1})
    return merged


def chart(fig, key: str | None = None, parts: tuple = (), *, where=None, config: dict | None = None, **kwargs):
    """st.plotly_chart (or `where`.plotly_chart: a column) with a download button that names the file by
    model, page and `parts` (layer, head, …; else the figure's title, which says what it shows; else the key)."""
    if not parts:
        title = getattr(getattr(fig.layout, "title", None), "text", None)
        parts = (title,) if title else ((key,) if key else ())
    return show(fig, key=key, config=image_config(file_name(*parts), config), where=where, **kwargs)


def show(fig, *, where=None, **kwargs):
    """st.plotly_chart (or `where`.plotly_chart) of the figure as this session shows it: dressed for a room in
    presenter mode; a figure that sets its own width (square cells) drawn at it, never wider than its column."""
    fig = palette.dressed(fig)
    if fig.layout.width:
        kwargs.setdefault("width", "content")
    return (where or st).plotly_chart(fig, **kwargs)


def csv_button(label: str, make: Callable[[], str], parts: tuple, key: str, help: str | None = None) -> None:
    """A CSV download built on click; UTF-8 with a byte-order mark, so a spreadsheet reads Chinese right."""
    st.download_button(label, data=lambda: make().encode("utf-8-sig"), file_name=file_name(*parts) + ".csv",
                       mime="text/csv", key=key, on_click="ignore", icon=":material/download:", help=help)


def trace_button(trace, text: str, key: str) -> None:
    """The whole trace as .npz (built on click, under a size budget), with a notice of its size and limits."""
    t, layers = len(trace.token_ids), len(trace.layers)
    st.download_button(
        _("Download the whole trace (.npz)"), data=lambda: core_export.npz_bytes(
            core_export.trace_arrays(trace, text).arrays), file_name=file_name("trace", f"{t}tokens") + ".npz",
        mime="application/octet-stream", key=key, on_click="ignore", icon=":material/download:")
    notice = _("{tokens:,} tokens × {layers} layers: at most {mb} MB before compression, every value the model "
               "computed for this text (NumPy reads it with np.load, no pickle needed).").format(
        tokens=t, layers=layers, mb=core_export.EXPORT_BYTES // 1024**2)
    if t > core_export.ATTENTION_TOKENS:
        notice += " " + _("The T × T attention matrices are left out above {count} tokens, and the T × vocabulary "
                          "logits always; the file lists what it left out and how to compute it.").format(
            count=core_export.ATTENTION_TOKENS)
    st.caption(notice)
