"""How students reach a class: its database, the link with the class code and the QR code the room scans.
Predict-then-reveal (viz/views/classroom.py) and follow the presenter (viz/views/follow.py) share them."""

from __future__ import annotations

import base64
import html
from urllib.parse import urlencode, urlsplit

import streamlit as st

from viz import classroom, state
from viz.figures.classroom import make_join_qr
from viz.state import _

LAST = "_classroom_last"  # the teacher's last class code: the next question takes it again when it is free
SETTING = "classroom_database_url"  # in .streamlit/secrets.toml; the environment variable wins


def store() -> classroom.Store:
    setting = None
    try:
        if st.secrets.load_if_toml_exists():
            setting = st.secrets.get(SETTING)
    except Exception:  # noqa: BLE001  (an unreadable secrets file: the environment or the default decide)
        setting = None
    return classroom.store_for(classroom.database_url(setting))


def join_link(code: str, param: str = state.CLASS) -> str:
    """This page's address with the class code (and the language), for the students: the address the
    teacher's browser reached, or this computer's address on the network where that was localhost. `param`:
    the code's parameter (`class` for a question, `follow` for a class that follows the teacher's screen)."""
    url = str(getattr(st.context, "url", "") or "")
    if not url and st.context.headers.get("Host"):
        url = f"http://{st.context.headers['Host']}/"
    url = classroom.reachable_url(url, classroom.lan_address())
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.netloc else ""
    return f"{base}?{urlencode({param: code, state.LANG: state.language()})}"


def reach_hints(link: str) -> list[str]:
    """Why a student's device may not reach the link: it names this computer, or the app listens only here."""
    host = urlsplit(link).hostname
    if classroom.is_loopback(host):
        return [_("This computer has no address on a network: connect it to the class's network (Wi-Fi) so that "
                  "students' devices can reach it.")]
    listening = st.get_option("server.address")
    if host and classroom.listens_only_here(listening):
        return [_("The app listens only to this computer ({address}): start it with `make run`, or with "
                  "`--server.address 0.0.0.0`, so that students' devices can reach it.").format(address=listening)]
    return []


def join_html(link: str) -> str:
    """The QR code of the link (an image: st.html keeps no inline SVG) and the link itself, escaped: the
    address comes from the browser."""
    svg = base64.b64encode(make_join_qr(link).encode()).decode()
    alt = html.escape(_("QR code of the link"))
    return (f'<div class="classroom-qr"><img alt="{alt}" '
            f'src="data:image/svg+xml;base64,{svg}"></div>'
            f'<a class="classroom-link" href="{html.escape(link)}">{html.escape(link)}</a>')
