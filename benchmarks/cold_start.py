"""Cold start: `assistant ask --json` and `assistant serve` as fresh processes, against importing torch.

Run:  .venv/bin/python benchmarks/cold_start.py [--runs 5]

Uses the project's own sources/ and index/ (run `make index` first). Measured in one run:
- `python -c "import torch"`: the cost the ONNX query path avoids;
- `assistant ask "…" --json` with the index's ONNX query encoder (the default);
- the same with the export hidden (a copy of the index without `model/`), so questions go through torch;
- `assistant index` taking in one new article, as a fresh process, with each embedding backend
  (`onnx-int8`, the default, needs no torch once the model is exported; `torch` loads it);
- `assistant serve` from start until the page loads and until the first question is answered.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
QUESTION = "How many referrals were there in 2019-20?"


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=ROOT, env=env)
    return time.perf_counter() - t0


def median_of(runs: int, command: list[str], env: dict[str, str] | None = None) -> float:
    timed(command, env)  # warm the page cache: every run after it starts equally cold in Python
    return statistics.median(timed(command, env) for _ in range(runs))


NEW_ARTICLE = "---\ntitle: Kinship carers in the Brindle pilot\n---\nThe Brindle pilot supported 412 kinship carers.\n"


def index_one(runs: int, backend: str) -> float:
    """Median seconds of `assistant index` adding one article to a copy of the project."""
    with tempfile.TemporaryDirectory(prefix="cold-index-") as tmp:
        base = Path(tmp) / "base"
        shutil.copytree(ROOT / "sources", base / "sources")
        shutil.copytree(ROOT / "index", base / "index", ignore=shutil.ignore_patterns(".lock"))
        index = [str(BIN / "assistant"), "--root", "{root}", "--backend", backend, "index"]
        subprocess.run([a.format(root=base) for a in index], check=True, capture_output=True)  # the backend's vectors
        seconds = []
        for n in range(runs + 1):
            root = Path(tmp) / f"run-{n}"
            shutil.copytree(base, root)
            (root / "sources" / "brindle-pilot.md").write_text(NEW_ARTICLE, encoding="utf-8")
            seconds.append(timed([a.format(root=root) for a in index]))
        return statistics.median(seconds[1:])  # the first run warms the page cache


def serve_times() -> tuple[float, float]:
    from gradio_client import Client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(BIN / "assistant"), "serve", "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                urllib.request.urlopen(url, timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None:
                    sys.exit("assistant serve exited")
                time.sleep(0.05)
        page = time.perf_counter() - t0
        Client(url, verbose=False, analytics_enabled=False, download_files=False).predict(
            QUESTION, [], "hybrid", 5, [], [], "", "", api_name="/chat")
        return page, time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    ask = [str(BIN / "assistant"), "ask", QUESTION, "--json"]
    report = {"runs": args.runs,
              "import_torch_s": median_of(args.runs, [sys.executable, "-c", "import torch"]),
              "ask_onnx_s": median_of(args.runs, ask)}
    with tempfile.TemporaryDirectory(prefix="cold-") as tmp:
        copy = Path(tmp) / "index"
        shutil.copytree(ROOT / "index", copy, ignore=shutil.ignore_patterns("model", ".lock"))
        env = {**__import__("os").environ, "ASSISTANT_INDEX_DIR": str(copy)}
        report["ask_torch_s"] = median_of(args.runs, ask, env)
    report["index_one_int8_s"] = index_one(args.runs, "onnx-int8")
    report["index_one_torch_s"] = index_one(args.runs, "torch")
    report["serve_page_s"], report["serve_first_answer_s"] = serve_times()
    out = ROOT / "benchmarks" / "results" / "cold_start.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'fresh process':<46}{'seconds':>8}")
    for label, key in (("python -c 'import torch'", "import_torch_s"), ("assistant ask --json (ONNX query encoder)", "ask_onnx_s"),
                       ("assistant ask --json (torch query encoder)", "ask_torch_s"),
                       ("assistant index, one new article (onnx-int8)", "index_one_int8_s"),
                       ("assistant index, one new article (torch)", "index_one_torch_s"),
                       ("assistant serve: page loads", "serve_page_s"),
                       ("assistant serve: first answer", "serve_first_answer_s")):
        print(f"{label:<46}{report[key]:>8.2f}")
    print(f"medians of {args.runs} runs (serve: one run); wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
