"""Follow the presenter: a teacher's screen leads a class, the students' screens follow it.

The database on its own (a lesson's versions, the heartbeats, expiry, a database that fails); one trace per
(model, text) however many sessions ask at once; the pages in AppTest — a student takes the teacher's page,
model, text, layer, head and query, follows each change, breaks away and comes back, and nothing a student does
reaches the teacher; a database that cannot be reached (a bad URL, a read-only or locked SQLite file) pauses
follow mode and predict-then-reveal with a notice while every page works. Last, a teacher and two students in
real browsers.
"""

from __future__ import annotations

import json
import sqlite3
import stat
import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from playwright.sync_api import sync_playwright
from streamlit.testing.v1 import AppTest

from tests.support import browser as browsers
from viz import classroom, i18n, state
from viz.trace_cache import TraceCache
from viz.views import follow

APP = str(Path(__file__).resolve().parents[1] / "app.py")
ATTENTION, TOKENIZATION, NEXT_TOKEN = "viz/pages/attention.py", "viz/pages/tokenization.py", "viz/pages/next_token.py"
MODEL = "minilm-l6"  # small and fast: following is what is tested here
TEXT = "The animal didn't cross the street because it was too tired"
VIEW = {"page": "attention", "params": {"model": MODEL, "layer": "2"}, "state": {"model": MODEL, "layer": 2}}


# ---------------------------------------------------------------- the database


def test_a_lesson_grows_a_version_with_each_published_view(store):
    code = store.open_lesson(VIEW)
    assert classroom.is_code(code) and store.lesson(code) == (1, VIEW)
    assert store.lesson_version(code) == 1
    moved = {**VIEW, "state": {"model": MODEL, "layer": 3}}
    assert store.publish(code, moved) == 2
    assert store.lesson_version(code) == 2 and store.lesson(code) == (2, moved)
    assert store.lesson_version("<b>") is None and store.lesson_version("ZZZZ" if code != "ZZZZ" else "YYYY") is None
    with pytest.raises(classroom.NoSuchLesson):
        store.publish("<b>", VIEW)


def test_heartbeats_count_the_students_following_and_exploring_while_they_are_recent(store):
    code = store.open_lesson(VIEW)
    now = classroom._now()
    store.heartbeat(code, "a", True, now=now)
    store.heartbeat(code, "b", True, now=now)
    store.heartbeat(code, "c", False, now=now)
    assert store.class_size(code, now=now) == (2, 1)
    store.heartbeat(code, "b", False, now=now)  # b broke away: one row per device, updated
    assert store.class_size(code, now=now) == (1, 2)
    store.leave(code, "c")
    assert store.class_size(code, now=now) == (1, 1)
    later = now + classroom.PRESENT + timedelta(seconds=1)
    store.heartbeat(code, "a", True, now=later)
    assert store.class_size(code, now=later) == (1, 0), "a page that stopped beating is gone"
    assert store.class_size("ABCD" if code != "ABCD" else "ABCE", now=now) == (0, 0)


def test_a_lesson_ends_or_expires_with_its_heartbeats(store):
    code = store.open_lesson(VIEW)
    store.heartbeat(code, "a", True)
    store.end_lesson(code)
    assert store.lesson_version(code) is None
    with pytest.raises(classroom.NoSuchLesson):
        store.lesson(code)
    old = store.open_lesson(VIEW, now=classroom._now() - classroom.LESSON_LIFETIME - timedelta(minutes=1))
    store.heartbeat(old, "a", True)
    assert store.lesson_version(old) is None
    with pytest.raises(classroom.NoSuchLesson):
        store.publish(old, VIEW)
    again = store.open_lesson(VIEW, prefer=old)  # opening one purges the expired ones: the code is free again
    assert again == old and store.class_size(old) == (0, 0)
    with store.engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT count(*) FROM transformerscope_followers").scalar()
    assert rows == 0


def test_a_database_that_cannot_be_reached_says_so_in_both_languages(tmp_path):
    for url in (f"sqlite:///{tmp_path / 'no such folder' / 'class.sqlite3'}", "nosuchdialect://x/y", "not a url"):
        with pytest.raises(classroom.DatabaseUnavailable):
            classroom.Store(url)
        with pytest.raises(classroom.DatabaseUnavailable):
            classroom.store_for(url)
    message = classroom.DatabaseUnavailable.message
    for language in i18n.LANGUAGES:
        said = i18n.translator(language)(message)
        assert said and (language == "en" or said != message)


def read_only_copy(tmp_path) -> tuple[str, str]:
    """A class database that cannot be written: the file's mode says so, and (as root writes whatever a mode
    says) SQLite opens it read-only. Returns its URL and the code of its class, which has an open question."""
    path = tmp_path / "class.sqlite3"
    writer = classroom.Store(f"sqlite:///{path}")
    code = writer.open_lesson(VIEW)
    writer.open_question("attention", "it", ["a", "b"], 0, [0.6, 0.4], prefer=code)
    writer.engine.dispose()
    path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    return f"sqlite:///file:{path}?mode=ro&uri=true", code


def test_a_read_only_database_reads_but_refuses_every_change_with_the_said_error(tmp_path):
    url, code = read_only_copy(tmp_path)
    store = classroom.Store(url)
    assert store.lesson(code)[1] == VIEW and store.question(code).subject == "it"  # reading works
    for change in (lambda: store.publish(code, VIEW), lambda: store.heartbeat(code, "a", True),
                   lambda: store.open_lesson(VIEW), lambda: store.guess(code, "a", 0), lambda: store.reveal(code)):
        with pytest.raises(classroom.DatabaseUnavailable):
            change()


def test_a_locked_database_is_given_up_on_within_seconds_with_the_said_error(tmp_path):
    path = tmp_path / "class.sqlite3"
    store = classroom.Store(f"sqlite:///{path}")
    code = store.open_lesson(VIEW)
    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the file
    try:
        with pytest.raises(classroom.DatabaseUnavailable):
            store.lesson_version(code)
        with pytest.raises(classroom.DatabaseUnavailable):
            store.heartbeat(code, "a", True)
    finally:
        holder.rollback()
        holder.close()
    assert store.lesson_version(code) == 1, "the lock gone, it works again"


# ---------------------------------------------------------------- one trace for the class


def test_sessions_asking_at_once_for_one_trace_share_one_computation():
    cache, calls, started = TraceCache(max_bytes=10**9), [], threading.Barrier(8)

    class Stored:  # what the cache needs of a trace: its size
        def nbytes(self) -> int:
            return 1

    marker = Stored()

    def slow():
        calls.append(1)
        time.sleep(0.3)  # long enough that every thread asks while the first computes
        return marker

    results = []

    def ask():
        started.wait()
        results.append(cache.get_or_compute("the teacher's text", slow))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [1] and results == [marker] * 8
    assert not cache._computing, "the key's lock goes with its last user"


def test_the_apps_trace_is_computed_once_for_a_class_asking_at_once(monkeypatch):
    from core import load_model
    from viz import loading

    lm = load_model(MODEL)
    traced = []
    real = lm.trace

    def counted(text, **kwargs):
        traced.append(text)
        time.sleep(0.3)
        return real(text, **kwargs)

    monkeypatch.setattr(lm, "trace", counted)
    monkeypatch.setattr(loading, "get_model", lambda name: lm)
    monkeypatch.setattr(loading, "trace_cache", lambda cache=TraceCache(10**9): cache)
    text = f"A class follows one text {time.time()}"
    start, traces = threading.Barrier(6), []

    def student():
        start.wait()
        traces.append(loading.get_trace(MODEL, text))

    threads = [threading.Thread(target=student) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert traced == [text] and len(traces) == 6 and all(t is traces[0] for t in traces)


# ---------------------------------------------------------------- the pages


def open_app(page: str, query: dict[str, str]) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    for key, value in query.items():
        at.query_params[key] = value
    return at.switch_page(page).run()


def open_student(query: dict[str, str]) -> AppTest:
    """A student's page, opened on the app's first page: AppTest asks every run for the page its switch_page named,
    and a following page switches itself."""
    at = AppTest.from_file(APP, default_timeout=180)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def lead(at: AppTest) -> str:
    at.button(key="follow-lead").click().run()
    no_exception(at)
    return at.session_state[state.LEAD]


def views(at: AppTest) -> dict:
    """What a session's screen shows, as follow mode publishes it."""
    return {key: at.session_state[key] for key in (state.MODEL, state.TEXT, state.LAYER, state.HEAD, state.QUERY)
            if key in at.session_state}


def page_of(at: AppTest) -> str:
    return at.session_state[follow.PAGE]


def follows(student: AppTest, teacher: AppTest) -> None:
    student.run()  # what its fragment does by itself every second
    no_exception(student)
    assert page_of(student) == page_of(teacher)
    assert views(student) == views(teacher), (views(student), views(teacher))


def bar_text(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown if m.value.startswith("🎓"))


def test_a_student_takes_the_teachers_view_and_follows_each_move(database):
    teacher = open_app(ATTENTION, {"model": MODEL, state.QUERY: "it"})
    code = lead(teacher)
    assert teacher.query_params[state.LEAD] == code
    student = open_student({state.FOLLOW: code, "text": "zqstudent own text", "lang": "zh"})
    follows(student, teacher)
    assert student.query_params[state.FOLLOW] == code and student.session_state[state.LANG] == "zh"
    assert "zqstudent" not in student.session_state[state.TEXT]

    teacher.button(key="head-next").click().run()  # a move inside the page's fragment
    teacher.button(key="layer-next").click().run()
    follows(student, teacher)
    teacher.sidebar.text_area(key=state.TEXT).input("The trophy didn't fit in the suitcase because it was too big").run()
    follows(student, teacher)
    teacher.selectbox(key=state.QUERY).set_value(teacher.selectbox(key=state.QUERY).options[3]).run()
    follows(student, teacher)
    teacher.switch_page(NEXT_TOKEN).run()  # another page: SmolLM2 there, as the teacher's screen shows it
    teacher.sidebar.selectbox(key=state.MODEL).set_value("smollm2-135m").run()
    follows(student, teacher)
    assert page_of(student) == "next_token"
    assert student.query_params[state.MODEL] == "smollm2-135m", "the student's URL follows the teacher's view"
    assert "🎓" in bar_text(student) and code in bar_text(student)


def test_the_teachers_query_and_head_survive_what_the_students_page_remembered(database):
    student = open_student({"model": MODEL, "text": "Go to the bank to get some money.", state.QUERY: "bank"})
    student.switch_page(ATTENTION).run()
    teacher = open_app(ATTENTION, {"model": MODEL, state.QUERY: "animal", state.LAYER: "4", state.HEAD: "1"})
    code = lead(teacher)
    student.sidebar.text_input(key=follow.JOIN).input(code.lower()).run()
    student.sidebar.button(key="follow-join").click().run()
    follows(student, teacher)
    assert (student.session_state[state.QUERY], student.session_state[state.LAYER],
            student.session_state[state.HEAD]) == ("animal", 4, 1), "not the ranking's best head, not the last token"


def test_breaking_away_stops_following_and_one_click_follows_again(database):
    teacher = open_app(ATTENTION, {"model": MODEL})
    code = lead(teacher)
    student = open_student({state.FOLLOW: code})
    follows(student, teacher)
    student.button(key="follow-away").click().run()
    assert state.FOLLOW not in student.query_params
    own = student.session_state[state.HEAD]
    teacher.button(key="head-next").click().run()
    student.run()
    assert student.session_state[state.HEAD] == own, "exploring: the teacher's move does not reach it"
    assert "follow-again" in [b.key for b in student.button]
    student.button(key="follow-again").click().run()
    student.run()
    assert views(student) == views(teacher) and student.query_params[state.FOLLOW] == code


def test_nothing_a_student_does_reaches_the_teacher(database):
    teacher = open_app(ATTENTION, {"model": MODEL})
    code = lead(teacher)
    store = classroom.store_for(database)
    published = store.lesson(code)
    seen = views(teacher)
    student = open_student({state.FOLLOW: code})
    student.button(key="head-next").click().run()  # a student moving while following
    student.sidebar.text_area(key=state.TEXT).input("zqstudent writes here").run()
    student.button(key="follow-away").click().run()
    student.button(key="layer-next").click().run()
    teacher.run()
    assert views(teacher) == seen and store.lesson(code) == published
    assert "zqstudent" not in str(store.lesson(code))


def test_the_teachers_bar_counts_who_follows_and_who_explores(database, monkeypatch):
    monkeypatch.setattr(follow, "COUNT_S", 0.0)  # read the class's size at every run
    teacher = open_app(ATTENTION, {"model": MODEL})
    code = lead(teacher)
    students = [open_student({state.FOLLOW: code}) for _ in range(2)]
    students[1].button(key="follow-away").click().run()
    teacher.run()
    assert "2" not in bar_text(teacher).split(code)[0]
    assert "1 following, 1 exploring" in bar_text(teacher)
    for language in i18n.LANGUAGES:
        template = i18n.translator(language)(
            "Class **{code}**: {following} following, {exploring} exploring on their own")
        assert "{following}" in template and "{exploring}" in template


# ---------------------------------------------------------------- faults: the database


def warnings(at: AppTest) -> str:
    return " ".join(w.value for w in at.warning)


@pytest.mark.parametrize("broken", ["missing folder", "read-only", "bad URL"])
def test_an_unreachable_database_pauses_the_classroom_with_a_notice_and_every_page_works(broken, tmp_path,
                                                                                          monkeypatch):
    """Unreachable (a folder that is not there, a driver that is not installed): every look-up fails. Read-only:
    the class's question and view can be read, and every change (a guess, a heartbeat, a new class) fails."""
    code = "ABCD"
    if broken == "read-only":
        url, code = read_only_copy(tmp_path)
    else:
        url = {"missing folder": f"sqlite:///{tmp_path / 'gone' / 'class.sqlite3'}",
               "bad URL": "nosuchdialect://teacher@nowhere/class"}[broken]
    monkeypatch.setenv(classroom.DATABASE_URL_ENV, url)
    said = {language: i18n.translator(language)(classroom.DatabaseUnavailable.message) for language in i18n.LANGUAGES}

    for language in i18n.LANGUAGES:
        # predict-then-reveal: a student's link to the question
        at = open_app(ATTENTION, {"model": MODEL, state.CLASS: code, "lang": language})
        if broken == "read-only":
            at.radio(key=f"classroom-choice-{code}").set_value("b").run()
            at.button(key="classroom-send").click().run()
        else:
            assert len(at.get("plotly_chart")) >= 3, "no question to hide: the page shows its answer and figures"
        no_exception(at)
        assert said[language] in warnings(at)
        # follow mode: a student's link, and a teacher who wants to lead
        at = open_app(ATTENTION, {"model": MODEL, state.FOLLOW: code, "lang": language})
        no_exception(at)
        assert said[language] in warnings(at) and len(at.get("plotly_chart")) >= 3
        at = open_app(TOKENIZATION, {"lang": language})
        at.button(key="follow-lead").click().run()
        no_exception(at)
        assert said[language] in warnings(at) and not at.session_state[state.LEAD]
    teacher = open_app(NEXT_TOKEN, {})
    teacher.toggle(key="classroom_open").set_value(True).run()
    teacher.button(key="classroom-ask").click().run()
    no_exception(teacher)
    assert said["en"] in warnings(teacher) and state.CLASS not in teacher.query_params
    for page in ("viz/pages/overview.py", TOKENIZATION, "viz/pages/positional_encoding.py"):
        no_exception(open_app(page, {"model": MODEL}))


# ---------------------------------------------------------------- a class in real browsers

FOLLOW_DEADLINE_MS = 60_000  # a readiness deadline for a busy machine, not a speed target (bench/load.py times it)
PROJECTOR = {"width": 1280, "height": 720}
# The layer and head the Attention page's sliders show ("4,2"), as drawn (a phone draws figures below the fold
# only when scrolled to; the sliders are drawn at once).
SHOWN_JS = """() => {
    const value = (key) => document.querySelector(`.st-key-${key} input[type="range"]`)?.value;
    const layer = value('layer'), head = value('head');
    return layer == null || head == null ? null : `${layer},${head}`;
}"""
BAR = '[data-testid="stMain"] .st-key-follow-bar'


@pytest.fixture(scope="module")
def class_server(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('follow') / 'browser.sqlite3'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(classroom.DATABASE_URL_ENV, url)
        server = browsers.start_server(browsers.ARTIFACTS / "follow-server.log")
    yield server
    server.stop()


def browser_tab(browser, width: int, height: int, locale: str):
    context = browser.new_context(viewport={"width": width, "height": height}, locale=locale)
    context.set_default_timeout(browsers.PAGE_DEADLINE_MS)
    return context.new_page()


def shown_head(tab) -> str | None:
    return tab.evaluate(SHOWN_JS)


def url_params(tab) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(tab.url).query))


def reaches(tab, teacher, keys=(state.LAYER, state.HEAD)) -> None:
    """Wait until the student's page shows the teacher's head (and its URL the teacher's choices)."""
    browsers.wait_until_settled(teacher)
    head, wanted = shown_head(teacher), {key: url_params(teacher).get(key) for key in keys}
    tab.wait_for_function(f"() => ({SHOWN_JS})() === {json.dumps(head)}", timeout=FOLLOW_DEADLINE_MS)
    # A layer or head of 0 may be left out of an address (the slider's default) or written out: the same view.
    tab.wait_for_function(f"""() => {{ const query = new URLSearchParams(location.search);
        return {json.dumps(wanted)} && Object.entries({json.dumps(wanted)})
            .every(([key, value]) => (query.get(key) ?? "0") === (value ?? "0")); }}""", timeout=FOLLOW_DEADLINE_MS)
    browsers.wait_until_settled(tab)


def open_sidebar_section(tab, language: str) -> None:
    expand = tab.locator('[data-testid="stExpandSidebarButton"]')
    if expand.count() and expand.first.is_visible():  # presenter mode folds the sidebar away
        expand.first.click()
    label = i18n.translator(language)("Follow the presenter")
    tab.locator('[data-testid="stSidebar"] [data-testid="stExpander"] summary').filter(has_text=label).click()


def bar_says(tab, text: str) -> None:
    tab.wait_for_function(f"() => document.querySelector('{BAR}')?.innerText.includes({json.dumps(text)})",
                          timeout=FOLLOW_DEADLINE_MS)


@pytest.mark.browser
def test_a_teacher_and_two_students_in_browsers(class_server):
    """A teacher at a projector (Chinese, presenter mode) leads; a phone (Chinese, by the link) and a laptop
    (English, typing the code) follow each move: a head, a text, a page. One breaks away: the teacher's next move
    no longer reaches it, its own move does not reach the teacher, and one click brings it back."""
    server, zh = class_server, i18n.translator("zh")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browsers.CHROMIUM, args=browsers.CHROMIUM_ARGS)
        try:
            teacher = browser_tab(browser, **PROJECTOR, locale="zh-CN")
            browsers.open_page(teacher, f"{server.url}/attention?model={MODEL}&lang=zh&present=true&q=it",
                               ".st-key-head-next")
            open_sidebar_section(teacher, "zh")
            teacher.locator(".st-key-follow-lead button").first.click()
            code_box = teacher.locator('[data-testid="stSidebar"] [data-testid="stMetricValue"]')
            code_box.wait_for()
            code = code_box.inner_text().strip()
            assert classroom.is_code(code) and url_params(teacher)[state.LEAD] == code
            link = teacher.locator('[data-testid="stSidebar"] .classroom-link').inner_text()
            assert f"follow={code}" in link

            phone = browser_tab(browser, 390, 844, "zh-CN")
            phone.goto(f"{server.url}/?follow={code}&lang=zh", wait_until="domcontentloaded")
            reaches(phone, teacher)
            laptop = browser_tab(browser, 1280, 800, "en-US")
            browsers.open_page(laptop, f"{server.url}/positional_encoding?lang=en", '[data-testid="stSidebar"]')
            open_sidebar_section(laptop, "en")
            laptop.locator(".st-key-follow_join input").fill(code.lower())
            laptop.locator(".st-key-follow-join button").first.click()
            reaches(laptop, teacher)
            students = (phone, laptop)
            bar_says(teacher, zh("Class **{code}**: {following} following, {exploring} exploring on their own")
                     .replace("**", "").format(code=code, following=2, exploring=0))
            browsers.wait_until_settled(teacher)
            shot(teacher, "follow-teacher-1280x720-zh")

            # Each move of the teacher's reaches both: a head, a layer, a text, a page.
            for key in ("head-next", "layer-next"):
                teacher.locator(f".st-key-{key} button").filter(visible=True).first.click()
                for student in students:
                    reaches(student, teacher)
            shot(phone, "follow-student-390-zh")
            text = "The trophy didn't fit in the suitcase because it was too big"
            box = teacher.locator('[data-testid="stSidebar"] textarea').first
            box.fill(text)
            box.press("Control+Enter")
            for student in students:
                student.wait_for_function(
                    f"() => [...document.querySelectorAll('textarea')].some((box) => box.value === {json.dumps(text)})",
                    timeout=FOLLOW_DEADLINE_MS)
                reaches(student, teacher)
            for student in students:
                assert url_params(student)[state.TEXT] == text, "the student's URL carries the teacher's text"

            # The laptop breaks away: the teacher's next head reaches the phone only.
            laptop.locator(".st-key-follow-away button").first.click()
            laptop.wait_for_selector(".st-key-follow-again button")
            browsers.wait_until_settled(laptop)
            assert state.FOLLOW not in url_params(laptop)
            own = shown_head(laptop)
            teacher.locator(".st-key-head-next button").filter(visible=True).first.click()
            reaches(phone, teacher)
            bar_says(teacher, zh("Class **{code}**: {following} following, {exploring} exploring on their own")
                     .replace("**", "").format(code=code, following=1, exploring=1))
            assert shown_head(laptop) == own, "exploring: the teacher's move does not reach it"
            # Its own move reaches neither the teacher nor the phone.
            browsers.wait_until_settled(teacher)
            seen, teacher_url = shown_head(teacher), teacher.url
            laptop.locator(".st-key-head-previous button").filter(visible=True).first.click()
            laptop.wait_for_function(f"() => ({SHOWN_JS})() !== {json.dumps(own)}")
            browsers.wait_until_settled(laptop)
            time.sleep(2 * follow.FOLLOW_POLL_S + follow.LEAD_POLL_S)  # long enough for a leak to show
            assert (shown_head(teacher), teacher.url) == (seen, teacher_url)
            assert shown_head(phone) == seen
            shot(laptop, "follow-student-exploring-1280-en")
            # One click, and it follows again, at once.
            laptop.locator(".st-key-follow-again button").first.click()
            reaches(laptop, teacher)

            # A page: the teacher goes on along the lesson path (past the ranked heads, the Attention page's steps).
            for _ in range(12):
                teacher.locator(".st-key-lesson-next button").first.click()
                browsers.wait_until_settled(teacher)
                if not teacher.evaluate("() => location.pathname.endsWith('/attention')"):
                    break
            path = teacher.evaluate("() => location.pathname")
            for student in students:
                student.wait_for_function(f"() => location.pathname === {json.dumps(path)}", timeout=FOLLOW_DEADLINE_MS)
                browsers.wait_until_settled(student)
                assert student.locator('[data-testid="stException"]').count() == 0
                # The teacher's choices reach the address a run after the page has opened (viz/views/follow.py).
                student.wait_for_function(f"() => new URLSearchParams(location.search).get({json.dumps(state.MODEL)})"
                                          f" === {json.dumps(MODEL)}", timeout=FOLLOW_DEADLINE_MS)
                assert url_params(student)[state.MODEL] == MODEL
            assert teacher.locator('[data-testid="stException"]').count() == 0
        finally:
            browser.close()


def shot(tab, name: str) -> None:
    browsers.ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(browsers.ARTIFACTS / f"{name}.png"))
