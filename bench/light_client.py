"""A light client of a Streamlit server: the websocket protocol a browser speaks, and nothing drawn.

A browser tab sends a `rerun_script` message (its page, query string and widget values) and receives the run's
elements, then runs the timers of the page's auto-rerunning fragments (`st.fragment(run_every=...)`), follows the
page the server switched to (`st.switch_page`) and keeps its query string up to date. `LightSession` does those
four things over one websocket, so a load test can open thirty sessions that cost the server what thirty
students following a teacher cost it (bench/load.py `--light`), without thirty browsers drawing Plotly figures
on the same machine. It never touches a widget: it is a student who watches.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import parse_qsl, urlsplit

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg


class LightSession:
    """One student's session: `url` the server (http://host:port), `query` the link's query string."""

    def __init__(self, url: str, query: str, on_frame=None):
        self.socket_url = "ws" + url.removeprefix("http") + "/_stcore/stream"
        self.query, self.page_hash, self.path = query, "", "/"
        self.pages: dict[str, str] = {}  # page_script_hash -> URL path
        self.running = False
        self.fragments: dict[str, float] = {}  # an auto-rerunning fragment's id -> its interval (s)
        self.on_frame = on_frame  # every message's bytes, for the load test's own bookkeeping (errors, runs)
        self.finished: list[tuple[float, str, dict[str, str]]] = []  # each finished run: when, page, query
        self.changed = asyncio.Condition()
        self._socket = None

    def params(self) -> dict[str, str]:
        return dict(parse_qsl(self.query))

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, run the link's page, and keep the session alive (its fragments' timers) until `stop`."""
        async with websockets.connect(self.socket_url, subprotocols=["streamlit"], max_size=None,
                                      origin=f"http://{urlsplit(self.socket_url).netloc}") as socket:
            self._socket = socket
            await self._rerun()
            timers = asyncio.create_task(self._timers(stop))
            reader = asyncio.create_task(self._read(socket))
            await stop.wait()
            timers.cancel()
            reader.cancel()

    async def _rerun(self, fragment_id: str = "") -> None:
        message = BackMsg()
        state = message.rerun_script
        state.query_string, state.page_script_hash = self.query, self.page_hash
        if fragment_id:
            state.fragment_id, state.is_auto_rerun = fragment_id, True
        state.widget_states.SetInParent()
        self.running = True
        await self._socket.send(message.SerializeToString())

    async def _timers(self, stop: asyncio.Event) -> None:
        """The browser's timers of `run_every` fragments: each asks for its fragment's run when none is running."""
        due: dict[str, float] = {}
        while not stop.is_set():
            now = time.monotonic()
            for fragment_id, interval in list(self.fragments.items()):
                due.setdefault(fragment_id, now + interval)
                if now >= due[fragment_id] and not self.running:
                    due[fragment_id] = now + interval
                    await self._rerun(fragment_id)
            for fragment_id in set(due) - set(self.fragments):
                del due[fragment_id]
            await asyncio.sleep(0.05)

    async def _read(self, socket) -> None:
        async for payload in socket:
            if self.on_frame is not None:
                self.on_frame(payload)
            message = ForwardMsg.FromString(payload)
            kind = message.WhichOneof("type")
            if kind == "new_session":
                self.running, self.page_hash = True, message.new_session.page_script_hash
            elif kind == "navigation":  # sent by full runs only, which draw the page's fragments (and timers) again
                self.fragments.clear()
                self.pages = {page.page_script_hash: "/" + page.url_pathname for page in message.navigation.app_pages}
                self.page_hash = message.navigation.page_script_hash or self.page_hash
                self.path = self.pages.get(self.page_hash, self.path)
            elif kind == "page_info_changed":
                self.query = message.page_info_changed.query_string
            elif kind == "auto_rerun":
                self.fragments[message.auto_rerun.fragment_id] = message.auto_rerun.interval
            elif kind == "stop_auto_rerun":
                for fragment_id in message.stop_auto_rerun.fragment_ids:
                    self.fragments.pop(fragment_id, None)
            elif kind == "script_finished":
                self.running = False
                self.finished.append((time.monotonic(), self.path, self.params()))
                async with self.changed:
                    self.changed.notify_all()

    async def shows(self, path: str, wanted: dict[str, str], defaults: dict[str, str], since: float,
                    timeout: float) -> float:
        """When (time.monotonic) the first run finished after `since` with the session on `path` and its query
        string holding `wanted` (a key it leaves out counts as its value in `defaults`); waits for it, and
        raises TimeoutError after `timeout` seconds."""
        def first() -> float | None:
            return next((when for when, page, params in self.finished if when >= since and page == path and all(
                params.get(key, defaults.get(key)) == value for key, value in wanted.items())), None)

        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: first() is not None), timeout)
        return first()
