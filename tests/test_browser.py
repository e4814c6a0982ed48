"""The app in a real browser: a Streamlit server and headless Chromium, as a student would open it.

AppTest runs the scripts; this checks what only a browser shows: the pages draw
without an exception box in either language, Chinese token labels read as characters
(never U+FFFD), the attention heat map changes as the "next head" button steps through
heads, and hostile text in the link never runs as HTML. A full-page screenshot of each
page in each language lands in test-artifacts/ (with Debian's CJK fonts installed).
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest

from core import MODELS
from tests.support.browser import (
    ARTIFACTS,
    PAGE_DEADLINE_MS,
    REPO,
    open_page,
    screenshot,
    wait_until_settled,
)
from viz import catalog, i18n

pytestmark = pytest.mark.browser

MODEL = "minilm-l6"  # small and fast; the tokenization page loads SmolLM2 beside it anyway
EXCEPTION = '[data-testid="stException"]'
TITLE = '[data-testid="stMain"] h1'
HEAT_MAP_TITLE = "Self-attention, layer"
# URL paths are the catalogue's page ids; the first page is also the root.
PAGE_PATHS = {page.id: ("" if page is catalog.PAGES[0] else page.id) for page in catalog.PAGES}
CHINESE_TEXT = "今天太冷了,能穿多少穿多少"
XSS = "<img src=x onerror=window.__xss=1>"

# The attention page's main heat map: the Plotly graph whose title names a layer and a head.
HEAT_MAP_JS = """(prefix) => {
    for (const graph of document.querySelectorAll('.js-plotly-plot')) {
        const title = graph.layout && graph.layout.title && graph.layout.title.text;
        const shown = (graph.data || []).find((t) => t.type === 'heatmap' && t.visible !== false);
        if (title && title.includes(prefix) && shown) {
            return {title: title.replace(/<[^>]*>/g, ''), z: JSON.stringify(shown.z)};
        }
    }
    return null;
}"""


@pytest.fixture
def server(app_server):
    return app_server


@pytest.fixture
def browser(chromium):
    return chromium


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(PAGE_DEADLINE_MS)
    tab = context.new_page()
    yield tab
    context.close()


def assert_no_exception(page, where: str) -> None:
    boxes = page.locator(EXCEPTION)
    assert boxes.count() == 0, f"{where}: {boxes.first.inner_text()[:2000]}"


@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
@pytest.mark.parametrize(("name", "model"), [
    *((name, MODEL) for name in PAGE_PATHS),
    ("next_token", "smollm2-135m"),  # the decoder's own page, with the model it is built for
])
def test_page_opens_without_an_exception(server, page, name, model, language):
    open_page(page, f"{server.url}/{PAGE_PATHS[name]}?model={model}&lang={language}", TITLE)
    assert_no_exception(page, f"{name} on {model} in {language}")
    screenshot(page, f"page-{name}-{model}-{language}")
    title = i18n.translator(language)(catalog.BY_ID[name].title)
    assert title in page.locator(TITLE).first.inner_text()
    current = page.locator('[data-testid="stSidebarNav"] a[aria-current="page"]')
    assert current.count() == 1
    assert current.get_attribute("href").rstrip("/") == f"{server.url}/{PAGE_PATHS[name]}".rstrip("/")


def test_model_in_the_link_is_the_model_shown(server, page):
    open_page(page, f"{server.url}/?model={MODEL}", TITLE)
    shown = page.get_by_role("combobox", name="Model").input_value()
    assert MODEL in shown or MODELS[MODEL].title in shown, shown


def heat_map(page) -> dict:
    """The heat map's title and weights, once Plotly has drawn it."""
    return page.wait_for_function(HEAT_MAP_JS, arg=HEAT_MAP_TITLE, timeout=PAGE_DEADLINE_MS).json_value()


def click_next_head(page, expected_head: int) -> dict:
    button = page.locator(".st-key-head-next").get_by_role("button", name="▶").filter(visible=True)
    button.click()
    # The fragment reruns; done when the heat map names the new head.
    page.wait_for_function(
        f"() => ({HEAT_MAP_JS})({json.dumps(HEAT_MAP_TITLE)})?.title.endsWith('head {expected_head}')",
        timeout=PAGE_DEADLINE_MS,
    )
    wait_until_settled(page)
    assert_no_exception(page, f"attention, head {expected_head}")
    return heat_map(page)


def test_next_head_button_changes_the_heat_map(server, page):
    open_page(page, f"{server.url}/attention?model={MODEL}&layer=0&head=0", ".js-plotly-plot")
    first = heat_map(page)
    assert first["title"].endswith("head 0"), first["title"]

    second = click_next_head(page, 1)
    third = click_next_head(page, 2)
    screenshot(page, "attention-head-2")

    assert second["z"] != first["z"], "heads 0 and 1 drew the same weights"
    assert third["z"] != second["z"], "heads 1 and 2 drew the same weights"
    assert "head=2" in page.url, "the link should carry the head shown"


@pytest.mark.parametrize("name", ["tokenization", "attention"])
def test_hostile_text_in_the_link_is_shown_as_text(server, page, name):
    drawn = {"tokenization": '[data-testid="stMain"] [data-testid="stHtml"]',  # the token chips
             "attention": ".js-plotly-plot g.xtick text"}[name]  # the heat map's token labels
    open_page(page, f"{server.url}/{PAGE_PATHS[name]}?model={MODEL}&text={quote(XSS)}", drawn)
    assert_no_exception(page, f"{name} with hostile text")
    screenshot(page, f"{name}-hostile-text")

    assert page.evaluate("() => window.__xss") is None, "the text ran as HTML"
    assert page.locator('img[src="x"]').count() == 0
    text_box = page.get_by_role("textbox", name="Text")
    assert text_box.is_visible() and text_box.input_value() == XSS
    # The tokens carry the markup's pieces as characters (chips, axis labels), not as elements.
    assert "window" in page.locator('[data-testid="stMain"]').text_content()


# Markup of every kind a student might paste: HTML that runs script, a script element, a javascript: link in
# HTML and in Markdown, a Markdown link and heading, and a word long enough to break a layout.
HOSTILE_PAYLOADS = ('<img src=x onerror="window.__xss=1"> <script>window.__xss=2</script> '
                    '<a id="xss-anchor" href="javascript:window.__xss=3">a</a> [xss-md](javascript:window.__xss=4) '
                    '[xss-site](https://example.invalid/xss) # xss-heading ' + "W" * 300)
INJECTED_JS = """() => ({
    ran: window.__xss === undefined ? null : window.__xss,
    images: document.querySelectorAll('img[src="x"]').length,
    scripts: [...document.querySelectorAll('script')].filter((s) => s.textContent.includes('__xss')).length,
    anchors: document.querySelectorAll('#xss-anchor, a[href^="javascript:"], a[href*="example.invalid"]').length,
    headings: [...document.querySelectorAll('h1, h2, h3')].filter((h) => h.textContent.includes('xss-heading')).length,
})"""


@pytest.mark.parametrize("name", ["tokenization", "attention", "next_token"])
def test_chinese_tokens_read_as_characters_everywhere(server, page, name):
    """Byte-level BPE cuts Chinese characters into byte pieces: every label names its character."""
    drawn = {"tokenization": '[data-testid="stMain"] [data-testid="stHtml"]',
             "attention": ".js-plotly-plot g.xtick text", "next_token": ".js-plotly-plot g.ytick text"}[name]
    open_page(page, f"{server.url}/{PAGE_PATHS[name]}?model=smollm2-135m&lang=zh&text={quote(CHINESE_TEXT)}", drawn)
    assert_no_exception(page, f"{name} with Chinese text")
    screenshot(page, f"{name}-chinese-text-zh")
    shown = page.evaluate("""() => [...document.querySelectorAll('svg text, [data-testid="stMain"] [data-testid="stHtml"]')]
        .map(element => element.textContent).join(' ')""")
    assert "\ufffd" not in shown
    assert "冷" in shown


SWITCH_HEAD_JS = """(head) => new Promise((resolve) => {
    const graph = [...document.querySelectorAll('.js-plotly-plot')].find((g) => g.layout?.updatemenus?.length);
    const button = graph.querySelectorAll('g.updatemenu-button')[head];
    const start = performance.now();
    graph.on('plotly_update', () => requestAnimationFrame(() => resolve({
        ms: performance.now() - start, title: graph.layout.title.text,
        visible: graph.data.filter((t) => t.name.startsWith('head ')).map((t) => t.visible !== false)})));
    button.dispatchEvent(new MouseEvent('click', {bubbles: true}));
})"""


def test_head_buttons_switch_the_heat_map_in_the_browser(server, page):
    """The heads of a layer travel with the figure: a click redraws without asking the server. The time
    from click to the next painted frame is logged (test-artifacts/browser-timings.json), not asserted."""
    text = " ".join(["The animal didn't cross the street because it was too tired."] * 5)  # about 64 tokens
    open_page(page, f"{server.url}/attention?model=smollm2-135m&text={quote(text)}", "g.updatemenu-button")
    timings = []
    for head in (1, 2, 3, 4):
        switched = page.evaluate(SWITCH_HEAD_JS, head)
        assert switched["title"].endswith(f"head {head}")
        assert switched["visible"] == [h == head for h in range(len(switched["visible"]))]
        timings.append(switched["ms"])
    assert_no_exception(page, "attention after switching heads in the browser")
    screenshot(page, "attention-head-buttons")
    log_timings("head_switch_ms_64_tokens", timings)
    print(f"head switch in the browser, 64 tokens: {sorted(timings)[len(timings) // 2]:.0f} ms (median)")


def log_timings(name: str, timings: list[float]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "browser-timings.json"
    logged = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**logged, name: timings}, indent=1))


# Click the layer/head fragment's "next head" button, then wait for a frame painted after the figure names the
# new head: for a long text the heat map is an image the server draws, so this is a round trip.
NEXT_HEAD_JS = """(head) => new Promise((resolve) => {
    const button = [...document.querySelectorAll('.st-key-head-next button')].find((b) => b.offsetParent !== null);
    const named = () => [...document.querySelectorAll('.js-plotly-plot')].some((graph) => {
        const title = graph.layout?.title?.text || '';
        return title.includes('Self-attention, layer') && title.replace(/<[^>]*>/g, '').endsWith('head ' + head);
    });
    const start = performance.now();
    const poll = () => named() ? requestAnimationFrame(() => resolve(performance.now() - start))
                               : requestAnimationFrame(poll);
    button.click();
    requestAnimationFrame(poll);
})"""


def test_next_head_at_1024_tokens_logs_its_time(server, page):
    """A 1,024-token text: the heat map goes to the browser as an image of the head, so "next head" asks the
    server; the time from click to the painted new head is logged, not asserted (issue 10 asks under 1 s)."""
    from viz.loading import cached_model

    tokenizer = cached_model("smollm2-135m").tokenizer
    corpus = (REPO / "bench" / "corpus.txt").read_text()
    ids = tokenizer.encode("\n".join([corpus] * 6)).ids[:1024]
    text = tokenizer.decode(ids)
    open_page(page, f"{server.url}/attention?model=smollm2-135m&layer=3&head=0&text={quote(text)}",
              ".js-plotly-plot")
    timings = []
    for head in (1, 2, 3, 4):
        timings.append(page.evaluate(NEXT_HEAD_JS, head))
        wait_until_settled(page)
    assert_no_exception(page, "attention at 1,024 tokens")
    assert "head=4" in page.url
    screenshot(page, "attention-1024-tokens")
    log_timings("next_head_ms_1024_tokens", timings)
    print(f"next head in the browser, 1,024 tokens: {sorted(timings)[len(timings) // 2]:.0f} ms (median)")


FIT_JS = """() => {
    const problems = [];
    for (const button of document.querySelectorAll('[data-testid="stMain"] button, [data-testid="stSidebar"] button')) {
        const box = button.getBoundingClientRect();
        if (button.closest('details:not([open])')) continue;  // in a folded expander: not drawn, no innerText
        if (box.width > 0 && box.height > 0 && !button.innerText.trim() && !button.getAttribute('aria-label')) {
            problems.push('empty button ' + button.outerHTML.slice(0, 120));
        }
    }
    for (const label of document.querySelectorAll('[data-testid="stMetricLabel"] p')) {
        if (label.scrollWidth > label.clientWidth + 1) problems.push('metric label cut: ' + label.textContent);
    }
    const h1 = document.querySelector('[data-testid="stMain"] h1');
    if (h1 && h1.scrollWidth > h1.clientWidth + 1) problems.push('page title overflows');
    for (const graph of document.querySelectorAll('.js-plotly-plot')) {
        const title = graph.querySelector('.gtitle');
        if (!title) continue;
        const outer = graph.getBoundingClientRect(), box = title.getBoundingClientRect();
        if (box.left < outer.left - 1 || box.right > outer.right + 1) problems.push('figure title cut: ' + title.textContent);
    }
    return problems;
}"""
SIZES = {"projector": (1024, 768), "hd": (1280, 720), "phone": (390, 844)}


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
def test_tokenization_page_fits_projector_and_phone_widths(server, browser, size, language):
    width, height = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(PAGE_DEADLINE_MS)
    tab = context.new_page()
    try:
        open_page(tab, f"{server.url}/tokenization?model=smollm2-135m&lang={language}", TITLE)
        assert_no_exception(tab, f"tokenization at {size}")
        screenshot(tab, f"tokenization-{size}-{language}")
        assert tab.evaluate(FIT_JS) == []
    finally:
        context.close()


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
def test_attention_page_fits_projector_and_phone_widths(server, browser, size, language):
    width, height = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(PAGE_DEADLINE_MS)
    tab = context.new_page()
    try:
        open_page(tab, f"{server.url}/attention?model=smollm2-135m&lang={language}", "g.updatemenu-button")
        assert_no_exception(tab, f"attention at {size}")
        screenshot(tab, f"attention-{size}-{language}")
        assert tab.evaluate(FIT_JS) == []
        previous = tab.locator(".st-key-head-previous").filter(visible=True).first.bounding_box()
        following = tab.locator(".st-key-head-next").filter(visible=True).first.bounding_box()
        assert abs(previous["y"] - following["y"]) < 10, "the step buttons sit on one row with their slider"
    finally:
        context.close()


PLOT_TITLES_JS = "() => Array.from(document.querySelectorAll('.js-plotly-plot')).map((g) => g.layout.title.text)"


def test_the_game_of_life_grid_takes_a_click_and_plays(server, page):
    """A click on a cell of the Emergence page's grid brings it to life (the live-cell count follows it), and the
    animation's Play button runs the generations in the browser."""
    open_page(page, f"{server.url}/emergence?pattern=block", TITLE)
    live = page.locator('[data-testid="stMetricValue"]').nth(1)
    assert live.inner_text() == "4"
    box = page.locator('[data-testid="stDataFrame"]').first.bounding_box()
    page.mouse.click(box["x"] + 14, box["y"] + 35 + 17)  # the top-left cell, under the header row
    page.wait_for_function("() => document.querySelectorAll('[data-testid=\"stMetricValue\"]')[1].innerText === '5'")
    wait_until_settled(page)
    assert "Generation 0 · 5 live cells" in " ".join(page.evaluate(PLOT_TITLES_JS))
    page.get_by_text("Play").last.click()
    page.wait_for_function(f"() => ({PLOT_TITLES_JS})().some((t) => /Generation [1-9]/.test(t))")
    assert_no_exception(page, "emergence after a click and Play")
    screenshot(page, "emergence-playing")


# ---------------------------------------------------------------- downloads (issue 14)

DOWNLOAD_TEXT = "The cat sat on the mat because it was warm"
GRAPH_JS = """(prefix) => {
    for (const graph of document.querySelectorAll('.js-plotly-plot')) {
        const title = graph.layout && graph.layout.title && graph.layout.title.text;
        if (title && title.includes(prefix)) {
            const ticks = graph.layout.yaxis && graph.layout.yaxis.ticktext;  // the bars' token labels, top first
            return {title: title, labels: ticks ? Array.from(ticks) : null};
        }
    }
    return null;
}"""


def download(page, button) -> bytes:
    with page.expect_download(timeout=PAGE_DEADLINE_MS) as info:
        button.click()
    path = info.value.path()
    return Path(path).read_bytes(), info.value.suggested_filename


def download_button(page, label: str):
    return page.locator('[data-testid="stDownloadButton"] button').filter(has_text=label).first


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def as_text(label: str) -> str:
    return label.replace("␣", " ")


def test_each_download_of_the_next_token_page_matches_the_view(server, page):
    open_page(page, f"{server.url}/next_token?model=smollm2-135m&text={quote(DOWNLOAD_TEXT)}", ".js-plotly-plot")
    bars = page.wait_for_function(f"() => ({GRAPH_JS})('Next token after')?.labels?.length && "
                                  f"({GRAPH_JS})('Next token after').labels",
                                  timeout=PAGE_DEADLINE_MS).json_value()
    data, name = download(page, download_button(page, "Next-token distribution (CSV)"))
    rows = csv_rows(data)
    assert name == "smollm2-135m_next_token_distribution.csv"
    assert rows[0] == ["rank", "token_id", "token", "logit", "probability"]
    assert as_text(bars[0]) == rows[1][2], (bars, rows[1])  # the longest bar is the first row

    data, name = download(page, download_button(page, "Per-token loss (CSV)"))
    rows = csv_rows(data)
    assert name == "smollm2-135m_next_token_loss.csv"
    assert rows[0] == ["position", "token_id", "token", "probability", "loss_nats"]
    assert rows[1][:3] == ["1", rows[1][1], " cat"] and len(rows) == 1 + len(DOWNLOAD_TEXT.split()) - 1

    data, name = download(page, download_button(page, "Download the whole trace (.npz)"))
    assert name.endswith(".npz") and len(data) > 1000
    arrays = np.load(io.BytesIO(data), allow_pickle=False)
    assert str(arrays["meta.text"]) == DOWNLOAD_TEXT and arrays["meta.token_text"][1] == " cat"
    assert_no_exception(page, "next token downloads")


def test_the_attention_csv_matches_the_heat_map_and_a_figure_saves_as_png_and_svg(server, page):
    open_page(page, f"{server.url}/attention?model={MODEL}&layer=0&head=0&text={quote(DOWNLOAD_TEXT)}",
              ".js-plotly-plot")
    shown = heat_map(page)
    data, name = download(page, download_button(page, "Attention matrix (CSV)"))
    rows = csv_rows(data)
    assert name == f"{MODEL}_attention_self_layer0_head0.csv"
    keys = page.evaluate("""(prefix) => [...document.querySelectorAll('.js-plotly-plot')]
        .find((g) => g.layout.title.text.includes(prefix)).data.find((t) => t.type === 'heatmap').x""",
                         HEAT_MAP_TITLE)
    assert rows[0][:2] == ["position", "token"] and len(rows[0]) == 2 + len(keys)
    assert shown["title"].endswith("head 0")
    z = page.evaluate("""(prefix) => {
        const graph = [...document.querySelectorAll('.js-plotly-plot')].find((g) => g.layout.title.text.includes(prefix));
        const drawn = graph.calcdata.find((c) => c[0].trace.type === 'heatmap' && c[0].trace.visible !== false);
        return drawn[0].z.map((row) => Array.from(row));
    }""", HEAT_MAP_TITLE)
    assert abs(float(rows[2][3]) - z[1][1]) < 1e-3  # the second query's weight on the second key, as drawn
    assert abs(sum(float(v) for v in rows[2][2:] if v) - 1) < 1e-2

    graph = page.locator(".js-plotly-plot").filter(has=page.locator("text=" + HEAT_MAP_TITLE)).first
    graph.hover()
    camera = graph.locator('.modebar-btn[data-title^="Download plot"]')
    data, name = download(page, camera)
    assert name == f"{MODEL}_attention_Self-attention-layer-0-head-0.png" and data[:8] == b"\x89PNG\r\n\x1a\n"

    page.get_by_text("SVG", exact=True).click()
    wait_until_settled(page)
    graph = page.locator(".js-plotly-plot").filter(has=page.locator("text=" + HEAT_MAP_TITLE)).first
    graph.hover()
    data, name = download(page, graph.locator('.modebar-btn[data-title^="Download plot"]'))
    assert name.endswith(".svg") and b"<svg" in data[:2000]
# ---------------------------------------------------------------- in front of a class (issue 14)

LESSON_VIEWPORT = {"width": 1280, "height": 720}
LESSON_CAPTION = '.st-key-lesson-bar [data-testid="stCaptionContainer"]'
PRESSES_PER_STOP = 40  # more than any page's steps (a model's heads)
# Streamlit's frontend looks for its server under the page's path first (…/attention/_stcore/health), then at
# the root: those first answers are 404 by design, not a missing resource.
STREAMLIT_PROBE = re.compile(r"/[a-z_]+/_stcore/(health|host-config)$")


def _heading(tab) -> str:
    return tab.locator(TITLE).first.inner_text().strip()


def _lesson_caption(tab) -> str:
    return tab.locator(LESSON_CAPTION).first.inner_text()


@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
def test_the_lesson_path_end_to_end_in_presenter_mode_with_page_down(server, browser, language):
    """A teacher's clicker sends Page Down: it steps through a page's steps, then on to the next stop, from the
    first stop to the last, in presenter mode at 1280×720; a screenshot of each stop."""
    context = browser.new_context(viewport=LESSON_VIEWPORT)
    context.set_default_timeout(PAGE_DEADLINE_MS)
    tab = context.new_page()
    translate = i18n.translator(language)
    stops = catalog.lesson()
    try:
        open_page(tab, f"{server.url}/?model=smollm2-135m&lang={language}&present=true", LESSON_CAPTION)
        assert tab.locator('[data-testid="stSidebar"]').get_attribute("data-collapsed") == "true", \
            "presenter mode folds the sidebar away"
        for index, stop in enumerate(stops):
            assert _heading(tab) == f"{stop.icon} {translate(stop.title)}", stop.id
            assert_no_exception(tab, f"lesson stop {stop.id}")
            assert tab.evaluate(FIT_JS) == [], stop.id
            screenshot(tab, f"lesson-{language}-{index:02d}-{stop.id}")
            if index == len(stops) - 1:
                break
            for _press in range(PRESSES_PER_STOP):
                before = _lesson_caption(tab)
                tab.keyboard.press("PageDown")
                tab.wait_for_function("([selector, before]) => { const c = document.querySelector(selector);"
                                      " return c !== null && c.innerText !== before; }", arg=[LESSON_CAPTION, before])
                wait_until_settled(tab)
                if _heading(tab) == f"{stops[index + 1].icon} {translate(stops[index + 1].title)}":
                    break
            else:
                pytest.fail(f"Page Down did not leave {stop.id}")
            assert "present=true" in tab.url, "presenter mode stays on along the path"
        tab.keyboard.press("PageUp")  # and back
        tab.wait_for_function("(title) => document.querySelector('[data-testid=\"stMain\"] h1')?.innerText.trim()"
                              " === title", arg=f"{stops[-2].icon} {translate(stops[-2].title)}")
        wait_until_settled(tab)
        assert_no_exception(tab, "back one stop")
    finally:
        context.close()


# The controls whose values a stop opens on: sliders' thumbs and select boxes' shown values, by label.
CONTROLS_JS = """() => [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stSlider"],'
    + ' [data-testid="stMain"] [data-testid="stSelectbox"]')].map((w) => w.innerText.replace(/\\s+/g, ' ').trim())"""


def _press_until(tab, key: str, done) -> None:
    """Press a clicker's key until `done()` (each press waits for the lesson bar to change and the app to settle)."""
    for _press in range(PRESSES_PER_STOP):
        if done():
            return
        before = _lesson_caption(tab)
        tab.keyboard.press(key)
        tab.wait_for_function("([selector, before]) => { const c = document.querySelector(selector);"
                              " return c !== null && c.innerText !== before; }", arg=[LESSON_CAPTION, before])
        wait_until_settled(tab)
    pytest.fail(f"{key} never got there")


def _as_its_link_opens_it(browser, tab, where: str) -> None:
    """The page the path arrived on, opened again from its own address in a new session: the same heading,
    heat map and controls."""
    context = browser.new_context(viewport=LESSON_VIEWPORT)
    context.set_default_timeout(PAGE_DEADLINE_MS)
    fresh = context.new_page()
    try:
        open_page(fresh, tab.url, LESSON_CAPTION)
        assert _heading(fresh) == _heading(tab), where
        assert fresh.evaluate(CONTROLS_JS) == tab.evaluate(CONTROLS_JS), where
        assert fresh.evaluate(HEAT_MAP_JS, "") == tab.evaluate(HEAT_MAP_JS, ""), where
    finally:
        context.close()


def test_page_down_opens_attention_on_the_example_s_ranked_heads_and_the_translator_on_its_sentence(server, browser):
    """In Chinese, presenter mode, 1280×720: Page Down from the step-by-step page opens Attention exactly as its
    link does, on the ranking's best head ("it" → "animal", layer 13, head 8), and steps through the ranked heads;
    from Next token it opens the translator on 我是一名学生 and its alignment head, not a dead stop."""
    zh = i18n.translator("zh")
    context = browser.new_context(viewport=LESSON_VIEWPORT)
    context.set_default_timeout(PAGE_DEADLINE_MS)
    tab = context.new_page()
    attention, encoder_decoder = catalog.BY_ID["attention"], catalog.BY_ID["encoder_decoder"]
    try:
        open_page(tab, f"{server.url}/attention_math?model=smollm2-135m&lang=zh&present=true", LESSON_CAPTION)
        _press_until(tab, "PageDown", lambda: _heading(tab) == f"{attention.icon} {zh(attention.title)}")
        assert_no_exception(tab, "attention by the path")
        best = zh("layer {layer}, head {head}").format(layer=13, head=8)
        assert best in tab.evaluate(HEAT_MAP_JS, "")["title"]
        assert zh("{what} {number} of {count}").format(what=zh("ranked head"), number=1, count=5) \
            in _lesson_caption(tab)
        screenshot(tab, "lesson-zh-attention-ranked-head-1")
        _as_its_link_opens_it(browser, tab, "attention")
        titles = {tab.evaluate(HEAT_MAP_JS, "")["title"]}
        for number in range(2, 6):  # the ranked heads, layer and head together, then the next stop
            _press_until(tab, "PageDown", lambda n=number: f" {n} / 5" in _lesson_caption(tab))
            titles.add(tab.evaluate(HEAT_MAP_JS, "")["title"])
        assert len(titles) == 5, titles
        screenshot(tab, "lesson-zh-attention-ranked-head-5")
        _press_until(tab, "PageDown", lambda: _heading(tab) != f"{attention.icon} {zh(attention.title)}")
        assert _heading(tab) == f"{catalog.BY_ID['masks'].icon} {zh(catalog.BY_ID['masks'].title)}"

        open_page(tab, f"{server.url}/next_token?model=smollm2-135m&lang=zh&present=true", LESSON_CAPTION)
        _press_until(tab, "PageDown", lambda: _heading(tab) == f"{encoder_decoder.icon} {zh(encoder_decoder.title)}")
        assert_no_exception(tab, "encoder–decoder by the path")
        assert "model=tiny-translator" in tab.url and quote("我是一名学生") in tab.url
        assert zh("Switch to {model}").split("{")[0] not in tab.locator('[data-testid="stMain"]').inner_text()
        assert tab.locator(".js-plotly-plot").count() == 3, "the attention map, the step's rows, the next word"
        screenshot(tab, "lesson-zh-encoder-decoder")
        _as_its_link_opens_it(browser, tab, "encoder_decoder")
    finally:
        context.close()


def test_every_page_offline_with_a_long_paragraph_of_hostile_markup_and_in_chinese_presenter_mode(server, browser):
    """Every page, walked twice with every request outside the app's own address blocked (a classroom may have
    no internet: a page fails if it asked for a font, a script, a maths renderer or an image, or lost a
    resource). In English, the text is a 1,500-character paragraph with markup of every kind inside it: the page
    renders, and the markup creates no element and runs no script. In Chinese, presenter mode."""
    context = browser.new_context(viewport=LESSON_VIEWPORT)
    context.set_default_timeout(PAGE_DEADLINE_MS)
    blocked, failed, missing = [], [], []

    def only_the_app(route):
        url = route.request.url
        if url.startswith((server.url + "/", "data:", "blob:")) or url == server.url:
            route.continue_()
        else:
            blocked.append(url)
            route.abort("blockedbyclient")

    context.route("**/*", only_the_app)
    tab = context.new_page()
    tab.on("requestfailed", lambda request: failed.append((request.url, request.failure))
           if request.failure != "net::ERR_ABORTED" else None)  # a request cut short by the next navigation
    tab.on("response", lambda response: missing.append((response.url, response.status))
           if response.status >= 400 and not STREAMLIT_PROBE.search(response.url) else None)
    paragraph = (REPO / "bench" / "corpus.txt").read_text()[:1500]
    text = f"{paragraph[:700]} {HOSTILE_PAYLOADS} {paragraph[700:]}"
    try:
        for name, path in PAGE_PATHS.items():
            open_page(tab, f"{server.url}/{path}?model=smollm2-135m&lang=en&text={quote(text)}", TITLE)
            assert_no_exception(tab, f"{name} with a 1,500-character paragraph of hostile markup")
            found = tab.evaluate(INJECTED_JS)
            assert found == {"ran": None, "images": 0, "scripts": 0, "anchors": 0, "headings": 0}, (name, found)
            assert tab.get_by_role("textbox", name="Text").input_value() == text
            assert not blocked, f"{name} asked for {blocked}"
            screenshot(tab, f"{name}-long-paragraph")
        for name, path in PAGE_PATHS.items():
            open_page(tab, f"{server.url}/{path}?model=smollm2-135m&lang=zh&present=true", TITLE)
            assert_no_exception(tab, f"{name} offline")
            assert not blocked, f"{name} asked for {blocked}"
        assert not failed and not missing, (failed, missing)
    finally:
        context.close()


# ---------------------------------------------------------------- Watch a Transformer learn (issue 13)

PROGRESS = '[data-testid="stProgress"]'
STEP_JS = """() => {
    const bar = document.querySelector('[data-testid="stProgress"]');
    const found = bar && bar.innerText.match(/(\\d+)\\s*\\/\\s*(\\d+)/);
    return found ? Number(found[1]) : null;
}"""
FIRST_QUERY_JS = """() => [...document.querySelectorAll('.js-plotly-plot')]
    .filter((g) => (g.data || []).some((t) => t.type === 'heatmap'))
    .map((g) => g.data.find((t) => t.type === 'heatmap').y[0])"""


def test_a_model_trains_in_the_background_while_the_page_answers_then_it_can_be_tried(server, page):
    """In Chinese: a recipe button puts its recipe in the link; Start; the progress and the loss figure move
    on by themselves (the fragment's timer); another control answers while the job trains; Stop (or the
    end of the steps) ends it, and the trained model answers an input."""
    zh = i18n.translator("zh")
    open_page(page, f"{server.url}/training?lang=zh", TITLE)
    page.get_by_role("button", name=zh("Reverse: the anti-diagonal"), exact=True).click()
    page.wait_for_function("() => location.search.includes('tr_task=reverse')")
    wait_until_settled(page)
    assert zh("Reverse a sequence of digits") in page.locator('[data-testid="stRadio"]').nth(2).inner_text()
    page.get_by_role("button", name=zh("Start training")).click()
    page.wait_for_function(f"() => ({STEP_JS})() > 0")
    first = page.evaluate(STEP_JS)
    page.wait_for_function(f"(first) => ({STEP_JS})() > first", arg=first)  # no click: the timer reran it
    page.wait_for_function(f"() => ({PLOT_TITLES_JS})().some((t) => t && t.includes("
                           f"{json.dumps(zh('Cross-entropy loss while training'))}))")
    page.wait_for_function(f"() => ({FIRST_QUERY_JS})().length > 0")
    assert page.evaluate(FIRST_QUERY_JS)[0] == "&lt;s&gt;"  # the cross-attention: the decoder's queries
    kinds = page.locator('[data-testid="stRadio"]').filter(has_text=zh("Which attention")).first
    kinds.get_by_text(zh("encoder self-attention")).click()  # while the job trains, or just after
    page.wait_for_function(f"() => ({FIRST_QUERY_JS})().some((first) => first !== '&lt;s&gt;')")
    page.get_by_role("button", name=zh("Stop")).click()
    page.get_by_text(zh("Try the model you trained")).wait_for()
    # The run after Stop may find the job in its last step; the panel's timer then draws the final status.
    page.wait_for_function("(ends) => ends.some((end) => document.querySelector('[data-testid=\"stProgress\"]')"
                           ".innerText.includes(end))", arg=[zh("stopped by you"), zh("finished: every step done")])
    wait_until_settled(page)
    status = page.locator(PROGRESS).inner_text()
    assert zh("stopped by you") in status or zh("finished: every step done") in status, status
    answer = page.locator('[data-testid="stCode"]').last
    assert re.fullmatch(r"[0-9 ]+|∅", answer.inner_text().strip()), answer.inner_text()
    box = page.get_by_label(zh("Input"), exact=True)
    box.fill("9 8 7")
    box.press("Enter")
    wait_until_settled(page)
    assert_no_exception(page, "the training page after a run")
    assert re.fullmatch(r"[0-9 ]+|∅", page.locator('[data-testid="stCode"]').last.inner_text().strip())
    screenshot(page, "training-zh-trained")

    # Then the same model on the Attention page: its name in the link, the digits tried as the text.
    page.get_by_role("button", name=zh("Study this model on the other pages")).click()
    page.wait_for_function("() => location.search.includes('model=trained-reverse-')")
    wait_until_settled(page)
    main = page.locator('[data-testid="stMain"]')
    main.get_by_role("link", name=zh("Attention"), exact=True).click()
    page.wait_for_url(re.compile(r"/attention\?"))
    wait_until_settled(page)
    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')]"
                           ".some((g) => (g.data || []).some((t) => t.type === 'heatmap'))")
    assert_no_exception(page, "the Attention page studying the trained model")
    assert "model=trained-reverse-" in page.url and "text=9+8+7" in page.url
    assert page.get_by_role("textbox", name=zh("Text")).input_value() == "9 8 7"
    screenshot(page, "training-zh-studied-on-attention")


def test_a_chinese_browser_opens_on_gemma_and_a_lone_byte_candidate_says_what_it_is_on_hover(server, browser):
    """A zh-CN browser with no lang, model or text in the link: the Chinese interface on the model that reads
    Chinese and a Chinese sentence (the locale only a browser sends); then SmolLM2's <E7> candidate after
    世界上最高的山是, whose hover says which byte of which character it is."""
    if not MODELS["gemma3-270m"].available():
        pytest.skip("the Gemma 3 weight packages are not installed")
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 720})
    context.set_default_timeout(PAGE_DEADLINE_MS)
    tab = context.new_page()
    try:
        open_page(tab, f"{server.url}/next_token", ".js-plotly-plot g.ytick text")
        assert_no_exception(tab, "next token in a Chinese browser")
        sidebar = tab.locator('[data-testid="stSidebar"]')
        assert sidebar.locator("textarea").input_value() == "小明把苹果给了小红，因为她"
        assert "Gemma 3 270M" in sidebar.inner_text()  # the chosen model's caption
        assert "lang=zh" in tab.url and "model=" not in tab.url and "text=" not in tab.url
        open_page(tab, f"{server.url}/next_token?model=smollm2-135m&text={quote('世界上最高的山是')}",
                  ".js-plotly-plot g.ytick text")
        ticks = tab.evaluate("() => [...document.querySelectorAll('.js-plotly-plot')][0].layout.yaxis.ticktext")
        assert not any(re.search(r"<[0-9A-F]{2}>", tick) for tick in ticks), ticks
        row = next(i for i, tick in enumerate(ticks) if tick.endswith("(1/3)"))
        bar = tab.locator(".js-plotly-plot").first.locator("g.trace.bars g.point path").nth(row)
        bar.scroll_into_view_if_needed()
        bar.hover(force=True)
        hover = tab.locator(".hoverlayer .hovertext").first
        hover.wait_for()
        said = hover.text_content()
        assert "不是一个完整的字符" in said and "三字节字符的第 1 个字节" in said, said
        screenshot(tab, "next-token-lone-byte-hover-zh")
    finally:
        context.close()
