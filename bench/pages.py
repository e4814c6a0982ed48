"""Server-side page speed, measured with Streamlit's AppTest:

  - Attention page: changing the head on a 64-token text (no model call: the trace is cached);
  - Attention page: a new 64-token text on SmolLM2 (one forward with full capture, then the page), and on
    every other installed model (MiniLM, Gemma 3, the untrained classic: a new text per model);
  - Attention page: changing the head on a 1,024-token text (the heat map is an image of the one head);
  - Next-token page: a new 1,500-character paragraph (about 300 tokens) on SmolLM2;
  - every page of the catalogue: a rerun once its trace is cached (the same sentence throughout);
  - every page of the catalogue on a long Chinese text (about 1,500 tokens) on SmolLM2 and Gemma 3: its first
    render once the trace exists (a fresh trace per page, so nothing another page derived from it is reused),
    and its rerun when one view control changes (`VIEW_CONTROLS`; a plain rerun where a page has none).

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
LONG_PAGE_TOKENS = 1_500
LONG_PAGE_MODELS = ("smollm2-135m", "gemma3-270m")
# A widget of each page that changes the view, not the model's input: stepped to a new value for each rerun.
VIEW_CONTROLS = {
    "tokenization": "inspect-{model}", "tokenizer_training": "step", "embeddings": "hidden",
    "positional_encoding": "head", "attention_math": "head", "attention": "head", "masks": "head",
    "multi_head": "layer", "inside_block": "layer", "logit_lens": "token", "next_token": "nt_bars",
    "emergence": "life_speed",
}


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
    result["long_text"] = long_text_pages(repeats=3)
    print(long_text_table(result["long_text"]), flush=True)
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


def chinese_text(lm, tokens: int = LONG_PAGE_TOKENS, skip: int = 0) -> str:
    """About `tokens` tokens of Chinese prose for `lm` (the pages' own Chinese explanations, joined), starting
    `skip` characters in: a different `skip` is a different text, so a new trace."""
    corpus = "\n".join(path.read_text() for path in sorted((ROOT / "viz" / "explanations").glob("*.zh.md")))
    corpus = corpus[skip:]
    low, high = 1, len(corpus)
    while low < high:  # the longest prefix within `tokens` tokens
        middle = (low + high + 1) // 2
        low, high = (middle, high) if len(lm.tokenizer.encode(corpus[:middle]).ids) <= tokens else (low, middle - 1)
    return corpus[:low]


def change_view(at: AppTest, key: str) -> bool:
    """Step the slider or selectbox `key` to its next value (wrapping); False where the page has no such widget."""
    for slider in at.slider:
        if slider.key == key:
            slider.set_value(slider.value + 1 if slider.value < slider.max else slider.min)
            return True
    for box in at.selectbox:
        if box.key == key and box.options:
            box.select_index((box.index + 1) % len(box.options))
            return True
    return False


def long_text_pages(repeats: int, models=LONG_PAGE_MODELS, pages=None) -> dict[str, dict[str, dict]]:
    """{model: {page: {"tokens", "first_s", "view_ms", "control"}}}: every page on a Chinese text of about
    LONG_PAGE_TOKENS tokens. For each page a new text is traced first (outside the timing), so "first_s" is
    the page's own work once the trace exists; "view_ms" the median rerun after a view control's change."""
    import numpy as np

    from core.runtime.registry import available_models
    from viz import catalog
    from viz.loading import get_model, trace_cache

    results = {}
    for name in models:
        if not available_models().get(name):
            continue
        lm, rows = get_model(name), {}
        for index, page in enumerate(catalog.PAGES if pages is None else [catalog.BY_ID[p] for p in pages]):
            text = chinese_text(lm, skip=7 * index)
            trace_cache().clear()  # one long trace at a time: the page's own, made before the clock starts
            trace_cache().put((name, text, None), lm.trace(text, dtype=np.float16))
            at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
            at.session_state["model"] = name
            at.session_state["text"] = text
            at.switch_page(page.script)
            first = timed_run(at)
            control = VIEW_CONTROLS.get(page.id, "").format(model=name)
            views = []
            for _ in range(repeats):
                changed = bool(control) and change_view(at, control)
                views.append(timed_run(at))
            rows[page.id] = {"tokens": len(lm.tokenizer.encode(text).ids), "first_s": first,
                             "view_ms": 1e3 * statistics.median(views), "control": control if changed else "rerun"}
            print(f"  long text, {name}, {page.id}: first render {first:.1f} s, "
                  f"{rows[page.id]['control']} {rows[page.id]['view_ms']:.0f} ms", flush=True)
        results[name] = rows
    trace_cache().clear()
    return results


def long_text_table(results: dict[str, dict[str, dict]]) -> str:
    """Markdown: one row per page, per model its first render (trace cached) and a view control's rerun."""
    models = list(results)
    tokens = ", ".join(f"{name} {next(iter(rows.values()))['tokens']:,}" for name, rows in results.items() if rows)
    head = "| page | " + " | ".join(f"{name}: first render / view change" for name in models) + " |"
    lines = [f"Every page on a long Chinese text (tokens: {tokens}); first render once the trace exists, then "
             "the rerun after a view control (median):", "", head, "|---|" + "---|" * len(models)]
    for page in dict.fromkeys(page for rows in results.values() for page in rows):
        cells = []
        for name in models:
            row = results[name].get(page)
            cells.append("–" if row is None else f"{row['first_s']:.1f} s / {row['view_ms']:.0f} ms ({row['control']})")
        lines.append(f"| {page} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


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
    import sys

    if sys.argv[1:2] == ["--long"]:  # `python -m bench.pages --long [page …]`: the long-text table alone
        print(long_text_table(long_text_pages(repeats=3, pages=sys.argv[2:] or None)))
    else:
        main()
