"""Predict, then reveal: the database on its own (no Streamlit), the figure of the class's guesses, the join
link's address and QR code, and the Attention and Next-token pages in AppTest — the teacher's question hides
the answer, two students' guesses reach the teacher's chart through the database, and the reveal shows the
model's answer beside them. Last, a real class in a browser: a teacher and two students, whose pages follow
the question by themselves."""

from __future__ import annotations

import base64
import json
import re
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from playwright.sync_api import sync_playwright
from streamlit.testing.v1 import AppTest

from tests.support import browser as browsers
from tests.support import pages
from tests.support.models import loaded
from viz import classroom, i18n, state
from viz.figures.classroom import QR_BORDER, make_guesses_figure, make_join_qr
from viz.tokens import label_of

APP = str(Path(__file__).resolve().parents[1] / "app.py")
ATTENTION, NEXT_TOKEN = "viz/pages/attention.py", "viz/pages/next_token.py"
MODEL = "smollm2-135m"
TEXT = "The animal didn't cross the street because it was too tired"
OPTIONS = ["The", "animal", "it"]


# ---------------------------------------------------------------- the database


def test_a_question_gets_a_short_readable_code_and_keeps_what_was_asked(store):
    code = store.open_question("attention", "it", OPTIONS, 1, [0.2, 0.7, 0.1], {"layer": 3, "head": 5})
    assert classroom.is_code(code) and len(code) == classroom.CODE_LENGTH
    assert not set(code) & set("IO01")
    question = store.question(code)
    assert (question.kind, question.subject, question.options, question.answer) == ("attention", "it",
                                                                                    tuple(OPTIONS), 1)
    assert question.shares == pytest.approx((0.2, 0.7, 0.1)) and question.detail == {"layer": 3, "head": 5}
    assert not question.revealed
    assert store.tally(code) == [0, 0, 0]


def test_one_guess_per_device_a_new_one_replaces_it(store):
    code = store.open_question("next_token", "is", OPTIONS, 0, [0.5, 0.3, 0.2])
    store.guess(code, "device-a", 1, "Ann")
    store.guess(code, "device-b", 1)
    store.guess(code, "device-c", 2, "  ")
    assert store.tally(code) == [0, 2, 1]
    store.guess(code, "device-a", 0, "Ann")
    assert store.tally(code) == [1, 1, 1]
    assert store.nicknames(code) == ["Ann"]


def test_a_nickname_is_all_it_keeps_of_a_person_and_it_is_cut_and_cleaned():
    assert classroom.clean_nickname("  Li\u0000 Lei\u202e ") == "Li Lei"
    assert classroom.clean_nickname("x" * 100) == "x" * classroom.MAX_NICKNAME_CHARS
    assert classroom.clean_nickname("\n\t") is None and classroom.clean_nickname(None) is None
    columns = {column.name for column in classroom.GuessRow.__table__.columns}
    assert columns == {"id", "code", "voter", "choice", "nickname", "sent"}


def test_a_guess_must_be_one_of_the_options_and_the_code_must_exist(store):
    code = store.open_question("attention", "it", OPTIONS, 1, [0.2, 0.7, 0.1])
    with pytest.raises(classroom.NotAnOption):
        store.guess(code, "device", 3)
    with pytest.raises(classroom.NoSuchQuestion):
        store.guess("ZZZZ" if code != "ZZZZ" else "YYYY", "device", 0)
    with pytest.raises(classroom.NoSuchQuestion):
        store.question("<script>")
    with pytest.raises(ValueError):
        store.open_question("attention", "it", OPTIONS, 3, [0.2, 0.7, 0.1])
    with pytest.raises(ValueError):
        store.open_question("quiz", "it", OPTIONS, 0, [0.2, 0.7, 0.1])


def test_a_question_expires_then_is_refused_and_purged_with_its_guesses(store):
    code = store.open_question("attention", "it", OPTIONS, 1, [0.2, 0.7, 0.1])
    store.guess(code, "device", 1)
    later = classroom._now() + classroom.LIFETIME + timedelta(seconds=1)
    with pytest.raises(classroom.QuestionExpired):
        store.guess(code, "device", 2, now=later)
    with pytest.raises(classroom.NoSuchQuestion):  # purged: gone, not merely expired
        store.question(code, now=later)
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM transformerscope_guesses").scalar() == 0


def test_opening_a_question_purges_the_expired_ones(store):
    old = store.open_question("attention", "it", OPTIONS, 1, [0.2, 0.7, 0.1], lifetime=timedelta(minutes=5))
    store.open_question("attention", "it", OPTIONS, 1, [0.2, 0.7, 0.1], now=classroom._now() + timedelta(hours=1))
    with pytest.raises(classroom.NoSuchQuestion):
        store.question(old)


def test_two_replicas_on_one_database_share_a_class(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    one, two = classroom.Store(url), classroom.Store(url)
    code = one.open_question("attention", "it", OPTIONS, 1, [0.2, 0.7, 0.1])
    two.guess(code, "device", 2)
    one.reveal(code)
    assert two.question(code).revealed and one.tally(code) == [0, 0, 1]
    two.close(code)
    with pytest.raises(classroom.NoSuchQuestion):
        one.question(code)


def test_the_database_url_comes_from_the_environment_then_the_setting_then_a_file(monkeypatch):
    monkeypatch.delenv(classroom.DATABASE_URL_ENV, raising=False)
    assert classroom.database_url().startswith("sqlite:///") and classroom.database_url().endswith(".sqlite3")
    assert classroom.database_url("postgresql://db/class") == "postgresql://db/class"
    monkeypatch.setenv(classroom.DATABASE_URL_ENV, "sqlite:///elsewhere.sqlite3")
    assert classroom.database_url("postgresql://db/class") == "sqlite:///elsewhere.sqlite3"


def test_polling_reads_the_state_a_students_page_follows(store):
    code = store.open_question("attention", "it", OPTIONS, 1, [0.2, 0.7, 0.1])
    created, revealed = store.status(code)
    assert created == store.question(code).created and revealed is False
    store.guess(code, "device", 2)
    assert store.status(code) == (created, False), "a guess changes nothing a student's page shows"
    store.reveal(code)
    assert store.status(code) == (created, True)
    store.close(code)
    assert store.status(code) is None and store.status("<b>") is None
    expiring = store.open_question("attention", "it", OPTIONS, 1, [0.2, 0.7, 0.1], lifetime=timedelta(minutes=5))
    assert store.status(expiring, now=classroom._now() + timedelta(minutes=6)) is None


def test_the_teachers_next_question_keeps_the_class_code_when_it_is_free(store):
    code = store.open_question("attention", "it", OPTIONS, 1, [0.2, 0.7, 0.1])
    store.guess(code, "device", 2)
    taken = store.open_question("attention", "it", OPTIONS, 1, [0.2, 0.7, 0.1], prefer=code)
    assert taken != code, "another class's open question keeps its code"
    store.close(code)
    again = store.open_question("next_token", "is", OPTIONS, 0, [0.5, 0.3, 0.2], prefer=code)
    assert again == code
    assert store.question(code).kind == "next_token" and store.tally(code) == [0, 0, 0]
    assert classroom.is_code(store.open_question("attention", "it", OPTIONS, 1, [0.2, 0.7, 0.1], prefer="<b>"))


def test_a_typed_code_is_read_generously():
    assert classroom.normal_code(" ab c d ") == "ABCD"


# ---------------------------------------------------------------- the join link


def test_the_join_link_names_an_address_a_students_device_can_reach():
    lan = "192.168.1.23"
    for seen in ("http://localhost:8501/attention", "http://127.0.0.1:8501/attention", "http://[::1]:8501/attention",
                 "http://0.0.0.0:8501/attention", "http://app.localhost:8501/attention"):
        assert classroom.reachable_url(seen, lan) == "http://192.168.1.23:8501/attention", seen
    assert classroom.reachable_url("http://localhost/next_token", lan) == "http://192.168.1.23/next_token"
    for kept in ("https://scope.school.example/attention", "http://192.168.1.5:8501/attention",
                 "http://teacher-laptop.local:8501/attention", "http://10.0.0.7/"):
        assert classroom.reachable_url(kept, lan) == kept, "the address the teacher's browser reached works"
    assert classroom.reachable_url("http://localhost:8501/attention", None) == "http://localhost:8501/attention"
    for here in ("127.0.0.1", "localhost", "::1"):
        assert classroom.listens_only_here(here), here
    for everywhere in (None, "", "0.0.0.0", "::", "192.168.1.23"):
        assert not classroom.listens_only_here(everywhere), everywhere


def test_the_lan_address_is_a_real_interfaces_private_address():
    interfaces = [("lo", "127.0.0.1"), ("docker0", "172.17.0.1"), ("eth1", "169.254.3.4"), ("wlan0", "192.168.1.23")]
    assert classroom.lan_address(interfaces) == "192.168.1.23"
    assert classroom.lan_address([("tun0", "10.8.0.2"), ("eth0", "81.2.69.142")]) == "81.2.69.142", \
        "a VPN's address is no way into the room"
    assert classroom.lan_address([("docker0", "172.17.0.1")]) == "172.17.0.1", "better than nothing"
    assert classroom.lan_address([("lo", "127.0.0.1"), ("eth0", "not an address")]) is None
    if sys.platform == "linux":  # the kernel's own list: loopback is always there
        assert ("lo", "127.0.0.1") in classroom.interface_addresses()
    found = classroom.lan_address()
    assert found is None or not classroom.is_loopback(found)


def qr_modules(svg: str) -> list[list[bool]]:
    """The dark modules of segno's SVG path ("M x y" moves, "m dx dy" relative moves, "h n" runs on the row)."""
    size = int(re.search(r'viewBox="0 0 (\d+) \d+"', svg).group(1))
    grid = [[False] * size for _ in range(size)]
    x = y = 0.0
    path = re.search(r'class="qrline"[^>]* d="([^"]+)"', svg).group(1)
    for command, numbers in re.findall(r"([MmHh])([-\d. ]+)", path):
        values = [float(v) for v in numbers.split()]
        if command == "M":
            x, y = values
        elif command == "m":
            x, y = x + values[0], y + values[1]
        else:
            run = int(values[0])
            for column in range(int(x), int(x) + run):
                grid[int(y)][column] = True
            x += run
    return [row[QR_BORDER:size - QR_BORDER] for row in grid[QR_BORDER:size - QR_BORDER]]


def test_the_qr_code_encodes_the_join_link_and_writes_nothing_as_text():
    import segno
    link = "http://192.168.1.23:8501/attention?class=ABCD&lang=zh"
    svg = make_join_qr(link)
    expected = [[bool(module) for module in row] for row in segno.make(link, error="m", micro=False).matrix]
    assert qr_modules(svg) == expected
    assert qr_modules(make_join_qr(link.replace("ABCD", "ABCE"))) != expected, "another code, another pattern"
    hostile = 'http://x"><script>alert(1)</script>/?class=ABCD'
    assert "<script" not in make_join_qr(hostile) and "ABCD" not in make_join_qr(hostile)


def test_the_join_panel_escapes_the_link_it_shows():
    from viz.views.class_link import join_html
    hostile = 'http://x"><img src=y onerror=alert(1)>/?class=ABCD'
    markup = join_html(hostile)
    assert "<img src=y" not in markup and "&lt;img src=y onerror=alert(1)&gt;" in markup
    image = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', markup).group(1)
    assert base64.b64decode(image).decode() == make_join_qr(hostile)


# ---------------------------------------------------------------- the figure


def test_the_chart_shows_each_options_share_of_the_guesses_and_after_the_reveal_the_models():
    figure = make_guesses_figure(["<b>", "animal", "it"], [1, 3, 0], answer=1, shares=[0.1, 0.8, 0.1])
    class_bars, model_bars = figure.data
    np.testing.assert_allclose(np.asarray(class_bars.y, dtype=float), [0.25, 0.75, 0.0], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(model_bars.y, dtype=float), [0.1, 0.8, 0.1], rtol=1e-6)
    assert list(class_bars.x) == ["&lt;b&gt;", "animal", "it"]  # token text shown as itself
    assert len(set(class_bars.marker.color)) == 2 and class_bars.marker.color[1] != class_bars.marker.color[0]
    hidden = make_guesses_figure(["a", "b"], [0, 0])
    assert len(hidden.data) == 1 and not hidden.layout.annotations  # before the reveal: no answer anywhere
    with pytest.raises(ValueError):
        make_guesses_figure(["a", "a"], [1, 1])


# ---------------------------------------------------------------- on the pages


def open_page(page: str, query: dict[str, str]) -> AppTest:
    return pages.open_page(page, query={"model": MODEL, "text": TEXT, **query}, check=False)


def charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def guess_chart(at: AppTest, language: str = "en") -> dict:
    name = i18n.translator(language)("the class")
    found = [c for c in charts(at) if c["data"][0].get("name") == name]
    assert len(found) == 1, "one chart of the class's guesses"
    return found[0]


def bar_values(trace: dict) -> np.ndarray:
    y = trace["y"]
    if isinstance(y, dict):  # Plotly's typed array
        return np.frombuffer(base64.b64decode(y["bdata"]), dtype=y["dtype"]).astype(float)
    return np.asarray(y, dtype=float)


def student_guesses(page: str, code: str, option: str, nickname: str, language: str = "en") -> AppTest:
    at = open_page(page, {"class": code, "lang": language})
    assert not at.exception, [e.value for e in at.exception]
    choice = at.radio(key=f"classroom-choice-{code}")
    assert option in choice.options
    choice.set_value(option).run()
    at.text_input(key="classroom_nickname").input(nickname).run()
    at.button(key="classroom-send").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
def test_attention_question_hides_the_answer_gathers_two_guesses_and_reveals(database, language):
    teacher = open_page(ATTENTION, {"lang": language, state.QUERY: "it"})
    assert not teacher.exception, [e.value for e in teacher.exception]
    shown_before = len(charts(teacher))
    assert shown_before >= 3  # the heat map, lines and row of the chosen head
    layer, head = teacher.session_state[state.LAYER], teacher.session_state[state.HEAD]
    assert not [b for b in teacher.button if b.key == "classroom-ask"], "one switch until the teacher wants it"
    teacher.toggle(key="classroom_open").set_value(True).run()
    teacher.button(key="classroom-ask").click().run()
    assert not teacher.exception, [e.value for e in teacher.exception]
    code = teacher.session_state[state.CLASS]
    assert teacher.query_params[state.CLASS] == code and teacher.query_params[state.ROLE] == "teacher"
    assert [m.value for m in teacher.metric] == [code]
    assert len(charts(teacher)) == 1, "while the class guesses, only their chart is shown"

    question = classroom.store_for(database).question(code)
    assert question.subject == "it" and question.detail["layer"] == layer and question.detail["head"] == head
    assert "animal" in question.options and "tired" not in question.options  # it sees only what came before
    # The model's answer is the key the chosen head's row weighs most (the page's own weights).
    query = question.options.index("it")  # the keys are the tokens up to and including the query
    row = np.asarray(loaded(MODEL).trace(TEXT).layers[layer].self_attn.head_probs(head)[query], dtype=float)
    assert len(question.options) == query + 1
    assert question.shares == pytest.approx(tuple(row[: query + 1]), abs=2e-3)
    assert question.answer == int(np.argmax(question.shares))

    students = [student_guesses(ATTENTION, code, "animal", "Ann", language),
                student_guesses(ATTENTION, code, "street", "Bo", language)]
    for student in students:
        assert not [c for c in charts(student) if c["data"][0].get("type") == "heatmap"], "students see no answer"
        assert any("“" in i.value for i in student.info)  # their guess is confirmed
    teacher.run()
    chart = guess_chart(teacher, language)
    x = chart["data"][0]["x"]
    shares = dict(zip(x, bar_values(chart["data"][0])))
    assert shares["animal"] == pytest.approx(0.5) and shares["street"] == pytest.approx(0.5)
    assert len(chart["data"]) == 1 and not chart["layout"].get("annotations"), "no answer before the reveal"

    teacher.button(key="classroom-reveal").click().run()
    assert not teacher.exception
    chart = guess_chart(teacher, language)
    assert len(chart["data"]) == 2  # the class and the model, side by side
    assert question.options[question.answer] in chart["layout"]["annotations"][0]["x"]
    assert len(charts(teacher)) > shown_before  # the page's own figures are back, beside the chart
    assert any(question.options[question.answer] in s.value for s in teacher.success)
    students[0].run()
    assert any(question.options[question.answer] in s.value for s in students[0].success)

    teacher.button(key="classroom-close").click().run()
    assert teacher.session_state[state.CLASS] is None and state.CLASS not in teacher.query_params
    with pytest.raises(classroom.NoSuchQuestion):
        classroom.store_for(database).question(code)


def test_next_token_question_hides_the_distribution_until_it_is_revealed(database):
    text = "The highest mountain in the world is"
    teacher = open_page(NEXT_TOKEN, {"text": text})
    assert not teacher.exception, [e.value for e in teacher.exception]
    assert charts(teacher)
    teacher.toggle(key="classroom_open").set_value(True).run()
    teacher.button(key="classroom-ask").click().run()
    code = teacher.session_state[state.CLASS]
    assert len(charts(teacher)) == 1 and not teacher.header, "the distribution and the rest wait for the reveal"
    question = classroom.store_for(database).question(code)
    assert len(question.options) == 6 and list(question.options) == sorted(question.options)
    lm = loaded(MODEL)
    best = int(np.argmax(np.asarray(lm.trace(text).last_logits, dtype=np.float64)))
    assert question.options[question.answer] == label_of(lm.tokenizer, best)
    assert question.shares[question.answer] == pytest.approx(max(question.shares))

    at = open_page(NEXT_TOKEN, {"text": "Something else entirely", "class": code})
    options = at.radio(key=f"classroom-choice-{code}").options
    assert options == list(question.options)  # the question's tokens, whatever the student's own text
    student_guesses(NEXT_TOKEN, code, options[question.answer], "Cy")
    teacher.run()
    assert bar_values(guess_chart(teacher)["data"][0])[question.answer] == pytest.approx(1.0)
    teacher.button(key="classroom-reveal").click().run()
    assert teacher.header, "the page's own sections are back"
    assert len(guess_chart(teacher)["data"]) == 2


def test_an_expired_question_is_refused_on_the_page(database):
    store = classroom.store_for(database)
    code = store.open_question("attention", "it", OPTIONS, 1, [0.2, 0.7, 0.1],
                               now=classroom._now() - classroom.LIFETIME - timedelta(minutes=1))
    at = open_page(ATTENTION, {"class": code})
    assert not at.exception
    assert any(code in i.value and "expired" in i.value for i in at.info)
    assert not [r for r in at.radio if r.key == f"classroom-choice-{code}"]
    assert len(charts(at)) >= 3, "nothing to hide: the page shows its answer"
    with pytest.raises(classroom.NoSuchQuestion):
        store.question(code)


def test_the_draft_reads_the_attention_pages_own_choice_of_head(database):
    at = open_page(ATTENTION, {state.QUERY: "it", state.LAYER: "2", state.HEAD: "1"})
    assert at.session_state[state.LAYER] == 2 and at.session_state[state.HEAD] == 1
    at.toggle(key="classroom_open").set_value(True).run()
    at.button(key="classroom-ask").click().run()
    question = classroom.store_for(database).question(at.session_state[state.CLASS])
    assert question.detail == {"layer": 2, "head": 1, "model": MODEL}


def test_the_database_code_knows_nothing_of_streamlit():
    import ast
    tree = ast.parse(Path(classroom.__file__).read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 0}
    assert "streamlit" not in imported and "sqlalchemy" in imported


def test_a_student_without_the_link_types_the_code_and_gets_the_question(database):
    code = classroom.store_for(database).open_question("next_token", "is", OPTIONS, 0, [0.5, 0.3, 0.2])
    at = open_page(ATTENTION, {})
    at.toggle(key="classroom_open").set_value(True).run()
    at.text_input(key="classroom_join").input(f" {code.lower()} ").run()
    at.button(key="classroom-join").click().run()
    assert not at.exception
    assert at.query_params[state.CLASS] == code and state.ROLE not in at.query_params
    assert at.radio(key=f"classroom-choice-{code}").options == OPTIONS
    assert len(charts(at)) >= 3, "a next-token question hides nothing on the Attention page"
    at.button(key="classroom-leave").click().run()
    assert state.CLASS not in at.query_params


def test_a_student_follows_the_class_code_from_one_question_to_the_next(database):
    teacher = open_page(ATTENTION, {state.QUERY: "it"})
    teacher.toggle(key="classroom_open").set_value(True).run()
    teacher.button(key="classroom-ask").click().run()
    code = teacher.session_state[state.CLASS]
    student = student_guesses(ATTENTION, code, "street", "Ann")
    question = classroom.store_for(database).question(code)
    answer = question.options[question.answer]
    assert answer != "street"

    teacher.button(key="classroom-reveal").click().run()
    student.run()  # what the student's page does by itself when it sees the reveal
    assert any(answer in s.value for s in student.success)
    assert any("street" in i.value for i in student.info), "their own guess, beside the model's answer"
    assert not any("until the answer is revealed" in i.value for i in student.info)
    assert len(guess_chart(student)["data"]) == 2

    teacher.button(key="classroom-close").click().run()
    student.run()
    assert any(code in i.value for i in student.info) and any(code in c.value for c in student.caption)
    assert not [r for r in student.radio if r.key == f"classroom-choice-{code}"]

    teacher.button(key="classroom-ask").click().run()  # the next question, under the same code
    assert teacher.session_state[state.CLASS] == code
    student.run()
    assert student.radio(key=f"classroom-choice-{code}").value is None, "a fresh guess for a new question"
    assert not [i for i in student.info if "street" in i.value], "no word of the last question's guess"
    assert not student.success


# ---------------------------------------------------------------- a class in real browsers

BROWSER_MODEL = "minilm-l6"  # small and fast: the question is what is tested here
STAGE = ".st-key-classroom-stage"
FOLLOW_DEADLINE_MS = 60_000  # a readiness deadline for a busy machine, not a speed target
PROJECTOR = {"width": 1280, "height": 720}
# The live chart's title (its text, without markup), once Plotly has drawn it.
CHART_TITLE_JS = f"""() => {{
    const graph = document.querySelector('{STAGE} .js-plotly-plot');
    return graph && graph.layout && graph.layout.title ? graph.layout.title.text.replace(/<[^>]*>/g, '') : null;
}}"""


@pytest.fixture(scope="module")
def class_server(tmp_path_factory):
    """A real server whose class lives in a database of this test's own."""
    url = f"sqlite:///{tmp_path_factory.mktemp('class') / 'browser.sqlite3'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(classroom.DATABASE_URL_ENV, url)
        server = browsers.start_server(browsers.ARTIFACTS / "classroom-server.log")
    yield server, classroom.store_for(url)
    server.stop()


def new_tab(browser, width: int, height: int):
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    context.set_default_timeout(browsers.PAGE_DEADLINE_MS)
    return context.new_page()


def stage_text(tab, testid: str) -> str:
    return " ".join(tab.locator(f'{STAGE} [data-testid="{testid}"]').all_inner_texts())


def shot(tab, name: str) -> None:
    """What the screen shows (not the whole page: the point is what fits above the fold)."""
    browsers.ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(browsers.ARTIFACTS / f"{name}.png"))


def assert_in_view(tab, selector: str, height: int) -> None:
    box = tab.locator(selector).first.bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height, (selector, box)


def student_sends(tab, option: str) -> None:
    tab.locator(f'{STAGE} [data-testid="stRadio"]').get_by_text(option, exact=True).click()
    browsers.wait_until_settled(tab)
    tab.locator(".st-key-classroom-send button").click()
    tab.wait_for_function(f"() => document.querySelector('{STAGE}').innerText.includes('“{option}”')")


@pytest.mark.browser
def test_a_class_in_browsers_the_students_pages_follow_the_teachers_reveal(class_server):
    """A teacher at a projector and two students (a phone, a laptop): the students guess, the teacher
    reveals, and each student's page shows the model's answer and the class's chart without a click; then
    the teacher closes the question and asks the next under the same code, and it reaches them too."""
    server, store = class_server
    zh = i18n.translator("zh")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browsers.CHROMIUM, args=browsers.CHROMIUM_ARGS)
        try:
            teacher = new_tab(browser, **PROJECTOR)
            browsers.open_page(teacher, f"{server.url}/attention?model={BROWSER_MODEL}&lang=zh&present=true&q=it",
                      ".st-key-classroom_open")
            teacher.locator(".st-key-classroom_open label").first.click()
            teacher.locator(".st-key-classroom-ask button").click()
            teacher.wait_for_selector(f"{STAGE} .js-plotly-plot")
            browsers.wait_until_settled(teacher)
            code = teacher.locator('.st-key-classroom-code [data-testid="stMetricValue"]').inner_text().strip()
            question = store.question(code)
            answer = question.options[question.answer]

            # For the room: the question, a large code, the QR code, the link and the chart on one screen.
            for selector in (f"{STAGE} h3", ".st-key-classroom-code", ".classroom-qr img", ".classroom-link",
                             f"{STAGE} .js-plotly-plot", ".st-key-classroom-reveal"):
                assert_in_view(teacher, selector, PROJECTOR["height"])
            size = teacher.evaluate("""() => parseFloat(getComputedStyle(document.querySelector(
                '.st-key-classroom-code [data-testid="stMetricValue"] *')).fontSize)""")
            assert size >= 64, f"the class code is {size} px"
            link = teacher.locator(".classroom-link").inner_text().strip()
            parts = urlsplit(link)
            assert parse_qs(parts.query) == {"class": [code], "lang": ["zh"]} and parts.path == "/attention"
            assert parts.port == server.port
            assert parts.hostname == (classroom.lan_address() or "127.0.0.1"), "not localhost where a LAN exists"
            image = teacher.locator(".classroom-qr img").get_attribute("src")
            assert base64.b64decode(image.split(",", 1)[1]).decode() == make_join_qr(link)
            shot(teacher, "classroom-teacher-1280x720-zh")

            students = [new_tab(browser, 390, 844), new_tab(browser, **PROJECTOR)]
            for student, option in zip(students, ("animal", "street"), strict=True):
                browsers.open_page(student, f"{server.url}{parts.path}?{parts.query}", f'{STAGE} [data-testid="stRadio"]')
                student_sends(student, option)
            shot(students[0], "classroom-student-390-zh")
            guesses = zh("{count} guesses").format(count=2)
            teacher.wait_for_function(f"() => ({CHART_TITLE_JS})() === {json.dumps(guesses)}")
            shot(teacher, "classroom-teacher-guesses-1280x720-zh")

            teacher.locator(".st-key-classroom-reveal button").click()
            for student in students:  # no click of theirs: the page follows the question
                student.wait_for_function(
                    f"() => document.querySelector('{STAGE}') && [...document.querySelectorAll("
                    f"'{STAGE} [data-testid=\"stAlertContentSuccess\"]')].some(e => e.innerText.includes("
                    f"{json.dumps(answer)}))", timeout=FOLLOW_DEADLINE_MS)
                browsers.wait_until_settled(student)
                assert answer in stage_text(student, "stAlertContentSuccess")
                charts = student.evaluate(f"""() => [...document.querySelectorAll('{STAGE} .js-plotly-plot')]
                    .map(graph => graph.data.length)""")
                assert charts == [2], "the class's guesses and the model's, side by side"
            assert "street" in stage_text(students[1], "stAlertContentInfo"), "the student's own guess, beside it"
            browsers.wait_until_settled(teacher)
            assert_in_view(teacher, f"{STAGE} .js-plotly-plot", PROJECTOR["height"])
            shot(teacher, "classroom-teacher-revealed-1280x720-zh")
            shot(students[0], "classroom-student-revealed-390-zh")

            teacher.locator(".st-key-classroom-close button").click()
            for student in students:
                student.wait_for_function(f"() => !document.querySelector('{STAGE} [data-testid=\"stRadio\"]')"
                                          f" && document.querySelector('{STAGE}')?.innerText.includes('{code}')",
                                          timeout=FOLLOW_DEADLINE_MS)
            browsers.wait_until_settled(teacher)
            teacher.locator(".st-key-classroom-ask button").click()  # the next question
            teacher.wait_for_selector(".st-key-classroom-code")
            assert teacher.locator('.st-key-classroom-code [data-testid="stMetricValue"]').inner_text().strip() == code
            for student in students:
                student.wait_for_selector(f'{STAGE} [data-testid="stRadio"]', timeout=FOLLOW_DEADLINE_MS)
            shot(students[0], "classroom-student-next-390-zh")
            assert "street" not in stage_text(students[1], "stAlertContentInfo"), "a fresh guess"
        finally:
            browser.close()
