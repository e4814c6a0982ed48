"""Pages through AppTest: one way to open a page, and readers of what it drew (HTML bodies, Plotly charts)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from viz import catalog

APP = str(Path(__file__).resolve().parents[2] / "app.py")
# A readiness deadline for a busy two-core machine (a first model load included), not a speed target.
TIMEOUT = 300
HOSTILE = '<img src=x onerror=alert(1)><script>alert("x")</script>'


def open_page(page: str | catalog.PageEntry | None = None, *, query: Mapping[str, str] | None = None,
              session: Mapping[str, object] | None = None, context: Mapping[str, object] | None = None,
              home_first: bool = False, check: bool = True, timeout: float = TIMEOUT) -> AppTest:
    """A page as a visitor opens it: `query` is the link's query string, `session` what they chose earlier in
    the session (state keys: the model, the text), `context` the browser's (its locale). `home_first`: they land
    on the default page, then follow the navigation (as does `page=None`). `check`: fail on an exception."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    if context is not None:
        at.context = dict(context)
    for key, value in (session or {}).items():
        at.session_state[key] = value
    for key, value in (query or {}).items():
        at.query_params[key] = value
    if home_first or page is None:
        at.run()
    if page is not None:
        at.switch_page(page.script if isinstance(page, catalog.PageEntry) else page).run()
    if check:
        assert not at.exception, [e.value for e in at.exception]
    return at


def elements(node):
    """Every element under a block, depth first."""
    children = getattr(node, "children", None)
    if children is None:
        yield node
        return
    for child in children.values():
        yield from elements(child)


def raw_html_bodies(at: AppTest) -> list[str]:
    """What the browser would parse as HTML: st.html, and st.markdown with unsafe_allow_html."""
    bodies = []
    for block in (at.main, at.sidebar):
        for element in elements(block):
            proto = getattr(element, "proto", None)
            if element.type == "html" or getattr(proto, "allow_html", False):
                bodies.append(proto.body)
    return bodies


def plotly_array(value) -> np.ndarray:
    """A Plotly trace's numbers: a typed array ({"dtype", "bdata", "shape"}) decoded, a plain list as floats."""
    if isinstance(value, dict):
        shape = [int(n) for n in value["shape"].split(",")] if "shape" in value else -1
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"])).reshape(shape)
    return np.asarray(value, dtype=np.float64)


def charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def chart(at: AppTest, title_part: str) -> dict:
    """The first chart whose title contains `title_part`."""
    for spec in charts(at):
        title = spec["layout"].get("title", {})
        if title_part in (title.get("text", "") if isinstance(title, dict) else str(title)):
            return spec
    raise AssertionError(f"no chart titled …{title_part}…")


def table(at: AppTest) -> list[list[dict]]:
    """Every dataframe on the page, as its rows."""
    return [frame.value.to_dict("records") for frame in at.dataframe]
