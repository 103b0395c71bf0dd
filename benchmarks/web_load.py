"""Concurrent questions through the web chat's queue: N clients, each asking M questions, against `assistant serve`.

Run:  .venv/bin/python benchmarks/web_load.py [--clients 20] [--questions 10] [--concurrency 2]

Starts `assistant serve` on a free port over a copy of sources/, connects one gradio_client per
simulated browser tab, and sends each client's questions one after another (as a person would),
all clients at once. Reports how many were answered, latency p50/p95, and, measured in the same
run, one client alone asking the same questions: the floor that queueing is compared with.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def questions(n: int) -> list[str]:
    rows = [json.loads(line) for line in (ROOT / "evals" / "gold.jsonl").read_text().splitlines() if line.strip()]
    return [r["question"] for r in rows][:n]


def start(root: Path, concurrency: int) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).with_name("assistant")
    log = open(root / "serve.log", "w")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen([str(exe), "--root", str(root), "serve", "--port", str(port),
                             "--concurrency", str(concurrency)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(600):
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return proc, url
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.5)
    proc.kill()
    sys.exit("assistant serve did not start:\n" + (root / "serve.log").read_text()[-2000:])


def client_run(url: str, qs: list[str], out: list[tuple[float, bool]], barrier: threading.Barrier) -> None:
    from gradio_client import Client

    client = Client(url, verbose=False, analytics_enabled=False, download_files=False)
    barrier.wait()
    for q in qs:
        t0 = time.perf_counter()
        try:
            history, panel, _ = client.predict(q, [], "hybrid", 5, [], [], "", "", api_name="/chat")
            ok = len(history) == 2 and ("[1]" in str(history[1]) or "do not answer" in str(history[1]))
        except Exception:  # noqa: BLE001 - a lost request is what is being counted
            ok = False
        out.append((time.perf_counter() - t0, ok))


def load(url: str, clients: int, qs: list[str]) -> dict[str, float]:
    results: list[list[tuple[float, bool]]] = [[] for _ in range(clients)]
    barrier = threading.Barrier(clients + 1)
    threads = [threading.Thread(target=client_run, args=(url, qs, results[i], barrier)) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    flat = [r for rs in results for r in rs]
    lat = sorted(x for x, _ in flat)
    return {"clients": clients, "asked": clients * len(qs), "answered": sum(ok for _, ok in flat),
            "p50_ms": 1000 * statistics.median(lat), "p95_ms": 1000 * lat[max(0, int(0.95 * len(lat)) - 1)],
            "wall_s": wall, "questions_per_s": len(flat) / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--questions", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=2, help="assistant serve --concurrency")
    args = parser.parse_args()
    qs = questions(args.questions)
    with tempfile.TemporaryDirectory(prefix="web-load-") as tmp:
        root = Path(tmp)
        shutil.copytree(ROOT / "sources", root / "sources")
        (root / "evals").mkdir()
        proc, url = start(root, args.concurrency)
        try:
            alone = load(url, 1, qs)
            crowd = load(url, args.clients, qs)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    report = {"concurrency": args.concurrency, "cpus": os.cpu_count(), "alone": alone, "crowd": crowd,
              "p50_vs_alone": crowd["p50_ms"] / alone["p50_ms"]}
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"web_load-c{args.concurrency}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'run':<10}{'asked':>7}{'answered':>10}{'p50 ms':>9}{'p95 ms':>9}{'q/s':>7}")
    for name, r in (("1 client", alone), (f"{args.clients} clients", crowd)):
        print(f"{name:<10}{r['asked']:>7}{r['answered']:>10}{r['p50_ms']:>9.0f}{r['p95_ms']:>9.0f}"
              f"{r['questions_per_s']:>7.1f}")
    print(f"server concurrency {args.concurrency}, {os.cpu_count()} CPUs; wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
