"""What a click reruns, seen from a real browser: the messages a Streamlit server sends over the websocket.

AppTest always reruns the whole page; the browser asks the server to rerun a fragment alone when a widget
inside it is used. These tests read the server's own answer (`script_finished` says whether the run was a
fragment's, and the deltas say which elements were sent again): a generation step sends the generation's part
of the page and nothing around it. No timing is asserted (`make bench` measures the speed, bench/browser.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

import pytest
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from tests.support.browser import PAGE_DEADLINE_MS, open_page
from viz.loading import cached_model

TEXT = "A teacher clicks the button and the model writes the next"


@dataclass
class Messages:
    """The server's messages since the last `clear`: how each run ended, and the kinds of elements sent."""

    finished: list[int] = field(default_factory=list)
    elements: list[str] = field(default_factory=list)

    def read(self, payload) -> None:
        if isinstance(payload, str):
            return
        message = ForwardMsg.FromString(payload)
        kind = message.WhichOneof("type")
        if kind == "script_finished":
            self.finished.append(message.script_finished)
        elif kind == "delta" and message.delta.WhichOneof("type") == "new_element":
            self.elements.append(message.delta.new_element.WhichOneof("type"))

    def clear(self) -> None:
        self.finished.clear()
        self.elements.clear()


pytestmark = pytest.mark.browser


@pytest.fixture
def server(app_server):
    return app_server


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(PAGE_DEADLINE_MS)
    tab = context.new_page()
    tab.messages = Messages()
    tab.on("websocket", lambda socket: socket.on("framereceived", tab.messages.read))
    yield tab
    context.close()


def generated(page) -> int:
    return page.locator(".nt-generated").count()


def test_a_generation_step_reruns_the_generation_alone_and_gives_generates_tokens(server, page):
    open_page(page, f"{server.url}/next_token?model=smollm2-135m&lang=en&text={quote(TEXT)}", ".st-key-nt_next")
    for count in (1, 2, 3):
        page.messages.clear()
        page.locator(".st-key-nt_next button").click()
        page.wait_for_function(f"() => document.querySelectorAll('.nt-generated').length === {count}")
        page.wait_for_function("() => document.querySelector('[data-testid=\"stApp\"]')"
                               ".getAttribute('data-test-script-state') === 'notRunning'")
        assert page.messages.finished == [ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY], page.messages.finished
        # The chips, the last step's chart and the generation's own widgets; not the formulas, the playground's
        # charts or the loss chart around it.
        assert "latex" not in page.messages.elements and page.messages.elements.count("plotly_chart") == 1
    expected = cached_model("smollm2-135m").generate(TEXT, 3)
    shown = page.locator(".nt-generated").evaluate_all("(chips) => chips.map((chip) => chip.title)")
    assert shown == [f"id {token}" for token in expected.ids]


MOSAIC = ".st-key-attention-layer-mosaic .js-plotly-plot"
HEAT_MAP_TITLE_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].map((g) => g.layout?.title?.text || '')
    .find((title) => title.includes('layer')) || ''"""


def heat_map_title(page) -> str:
    return page.evaluate(HEAT_MAP_TITLE_JS)


def settle_on(page, fragment: str) -> None:
    page.wait_for_function(f"() => ({HEAT_MAP_TITLE_JS})().replace(/<[^>]*>/g, '').endsWith({fragment!r})")
    page.wait_for_function("() => document.querySelector('[data-testid=\"stApp\"]')"
                           ".getAttribute('data-test-script-state') === 'notRunning'")


def click_tile(page, head: int) -> None:
    """A click on the centre of a head's thumbnail, where the grid's invisible marker for it sits."""
    page.locator(MOSAIC).scroll_into_view_if_needed()
    x, y = page.evaluate("""([selector, head]) => {
        const graph = document.querySelector(selector), layout = graph._fullLayout;
        const marker = graph._fullData.find((trace) => trace.name === 'tiles');
        const box = graph.getBoundingClientRect();
        return [box.left + layout.xaxis._offset + layout.xaxis.l2p(marker.x[head]),
                box.top + layout.yaxis._offset + layout.yaxis.l2p(marker.y[head])];
    }""", [MOSAIC, head])
    page.mouse.click(x, y)


def test_a_head_step_leaves_the_thumbnails_drawn_and_a_tile_opens_its_head_every_time(server, page):
    open_page(page, f"{server.url}/attention?model=smollm2-135m&lang=en&layer=1&head=0", MOSAIC)
    page.evaluate(f"() => {{ document.querySelector({MOSAIC!r}).dataset.drawn = 'before the step'; }}")
    page.locator(".st-key-head-next button").filter(visible=True).first.click()
    settle_on(page, "layer 1, head 1")
    # The same chart element: the browser did not draw the thumbnails again for a head step.
    assert page.evaluate(f"() => document.querySelector({MOSAIC!r}).dataset.drawn") == "before the step"
    click_tile(page, 4)
    settle_on(page, "layer 1, head 4")
    page.locator(".st-key-head-next button").filter(visible=True).first.click()
    settle_on(page, "layer 1, head 5")
    click_tile(page, 4)  # the same tile again: it opens again
    settle_on(page, "layer 1, head 4")


WAYS_TITLE_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].map((g) => g.layout?.title?.text || '')
    .find((title) => title.includes('masked two ways'))"""


def test_a_head_change_on_masks_reruns_the_two_ways_alone(server, page):
    """The model's masks, the encoder beside the decoder and padding do not depend on the head."""
    open_page(page, f"{server.url}/masks?model=smollm2-135m&lang=en&text={quote(TEXT)}", ".js-plotly-plot")
    assert "head 0" in page.evaluate(WAYS_TITLE_JS)
    page.messages.clear()
    page.get_by_role("slider", name="Head").focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function(f"() => ({WAYS_TITLE_JS})().includes('head 1')")
    page.wait_for_function("() => document.querySelector('[data-testid=\"stApp\"]')"
                           ".getAttribute('data-test-script-state') === 'notRunning'")
    assert page.messages.finished == [ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY], page.messages.finished
    assert page.messages.elements.count("plotly_chart") == 1  # the two ways, not the masks above them
    assert "head=1" in page.url
