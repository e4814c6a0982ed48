"""Server-side page speed, measured with Streamlit's AppTest:

  - Attention page: changing the head on a 64-token text (no model call: the trace is cached);
  - Attention page: a new 64-token text on SmolLM2 (one forward with full capture, then the page), and on
    every other installed model (MiniLM, Gemma 3, the untrained classic: a new text per model);
  - Attention page: changing the head on a 1,024-token text (the heat map is an image of the one head);
  - Next-token page: a new 1,500-character paragraph (about 300 tokens) on SmolLM2;
  - every page of the catalogue: a rerun once its trace is cached (the same sentence throughout).

AppTest reruns the whole page script, so these are upper bounds of what the
layer/head fragment alone costs in the browser session.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
MODEL = "smollm2-135m"
N_TOKENS = 64
LONG_TOKENS = 1_024
PARAGRAPH_CHARS = 1_500


def texts(lm, count: int) -> list[str]:
    """`count` different texts of exactly N_TOKENS tokens, cut from the corpus at different places."""
    ids = lm.tokenizer.encode((ROOT / "bench" / "corpus.txt").read_text()).ids
    return [lm.tokenizer.decode(ids[start : start + N_TOKENS]) for start in range(0, 8 * count, 8)][:count]


def timed_run(at: AppTest) -> float:
    start = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - start
    if at.exception:
        raise RuntimeError(at.exception[0].message)
    return elapsed


def attention_page(name: str, text: str) -> AppTest:
    """A session on the Attention page with `name` reading `text`, run once: the model loaded, the text traced."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.session_state["model"] = name
    at.session_state["text"] = text
    at.run()
    return at.switch_page("viz/pages/attention.py").run()


def main(repeats: int = 7) -> dict:
    from viz.loading import get_model

    lm = get_model(MODEL)
    samples = texts(lm, repeats + 1)
    at = attention_page(MODEL, samples[0])
    head_changes = []
    for i in range(repeats):
        at.session_state["head"] = (i + 1) % lm.info.n_heads
        head_changes.append(timed_run(at))
    new_texts = []
    for text in samples[1:]:
        at.session_state["text"] = text
        new_texts.append(timed_run(at))
    result = {
        "head_change_ms": 1e3 * statistics.median(head_changes),
        "new_text_ms": 1e3 * statistics.median(new_texts),
        "head_change_long_ms": 1e3 * long_head_change(lm, repeats),
        "next_token_paragraph_ms": 1e3 * next_token_paragraph(repeats),
        "new_text_by_model_ms": {MODEL: 1e3 * statistics.median(new_texts)}
        | {name: 1e3 * seconds for name, seconds in new_text_by_model(max(3, repeats // 2)).items()},
        "rerun_ms": {page: 1e3 * seconds for page, seconds in page_reruns(samples[0], repeats).items()},
    }
    print(
        f"Attention page, {MODEL}, {N_TOKENS} tokens (whole-page rerun, median of {repeats}): "
        f"change head {result['head_change_ms']:.0f} ms, new text {result['new_text_ms']:.0f} ms; "
        f"change head at {LONG_TOKENS:,} tokens {result['head_change_long_ms']:.0f} ms; "
        f"Next-token page, a new {PARAGRAPH_CHARS:,}-character paragraph: {result['next_token_paragraph_ms']:.0f} ms"
    )
    for name, ms in result["new_text_by_model_ms"].items():
        print(f"  Attention page, a new {N_TOKENS}-token text on {name}: {ms:.0f} ms")
    for page, ms in result["rerun_ms"].items():
        print(f"  {page}: rerun with the trace cached {ms:.0f} ms")
    return result


def page_reruns(text: str, repeats: int) -> dict[str, float]:
    """Median seconds of a whole-page rerun for every page of the catalogue, once its data is cached."""
    from viz import catalog

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.session_state["model"] = MODEL
    at.session_state["text"] = text
    at.run()
    times = {}
    for page in catalog.PAGES:
        at.switch_page(page.script).run()  # computes and caches what the page needs
        times[page.id] = statistics.median(timed_run(at) for _ in range(repeats))
    return times


def new_text_by_model(repeats: int) -> dict[str, float]:
    """Median seconds of the Attention page's rerun after a new N_TOKENS-token text, for every installed model
    but MODEL (measured in main): the model loaded and its first text run before timing."""
    from core.runtime.registry import available_models
    from viz.loading import get_model

    times = {}
    for name, installed in available_models().items():
        if name == MODEL or not installed:
            continue
        samples = texts(get_model(name), repeats + 1)
        at = attention_page(name, samples[0])
        runs = []
        for text in samples[1:]:
            at.session_state["text"] = text
            runs.append(timed_run(at))
        times[name] = statistics.median(runs)
    return times


def long_head_change(lm, repeats: int) -> float:
    """Median seconds of the Attention page's rerun after a head change on a LONG_TOKENS-token text."""
    corpus = (ROOT / "bench" / "corpus.txt").read_text()
    ids = lm.tokenizer.encode("\n".join([corpus] * (1 + LONG_TOKENS // 300))).ids[:LONG_TOKENS]
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.session_state["model"] = MODEL
    at.session_state["text"] = lm.tokenizer.decode(ids)
    at.query_params["layer"] = "3"
    at.switch_page("viz/pages/attention.py").run()
    times = []
    for i in range(repeats):
        at.session_state["head"] = (i + 1) % lm.info.n_heads
        times.append(timed_run(at))
    return statistics.median(times)


def next_token_paragraph(repeats: int) -> float:
    """Median seconds for the Next-token page to show a new paragraph (model run, loss, generation chips)."""
    corpus = (ROOT / "bench" / "corpus.txt").read_text()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.session_state["model"] = MODEL
    at.session_state["text"] = corpus[:PARAGRAPH_CHARS]
    at.run()
    at.switch_page("viz/pages/next_token.py").run()
    times = []
    for i in range(1, repeats + 1):
        rotated = corpus[i * 20 :] + " " + corpus[: i * 20]  # a different paragraph of the same length each time
        at.session_state["text"] = rotated[:PARAGRAPH_CHARS]
        times.append(timed_run(at))
    return statistics.median(times)


if __name__ == "__main__":
    main()
