"""Importing thousands of files with `assistant add DIR`: peak memory, throughput against the encode floor,
resuming after kill -9, and embedding on one core or two.

Run:  .venv/bin/python benchmarks/ingest.py [--sizes 1000 10000] [--floor-passages 3000]

The files are made from SciFact (../shared/benchmarks/scifact, read in place; nothing is kept): each
abstract's sentences are cut into paragraphs of 2 or 3, and each file is a title line and one
paragraph (two, three times in ten), every paragraph used once. Measured, each import a fresh
`assistant add DIR --json` process into an empty project (the model's ONNX export copied in first):

1. wall time and peak RSS of the process (``ru_maxrss`` of the child, from ``wait4``);
2. the encode floor: the same default encoder (``onnx-int8``) embedding a random sample of the
   index's passages and their sentences, all sorted by length and batched as the import does, in
   this process: no reading, cleaning, chunking, BM25 or writing. Import passages/s over floor
   passages/s is the throughput ratio;
3. kill -9 of the import at a random moment, then the same command again: passages of the killed
   run's last committed generation embedded again (= committed - reused on resume; target 0);
4. workers: the floor sample embedded by 1 onnxruntime thread, 2 threads, and 2 processes of one
   thread each, alternated twice.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import resource
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = ROOT.parent / "shared" / "benchmarks" / "scifact"
ASSISTANT = [str(ROOT / ".venv" / "bin" / "assistant")]
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")


def paragraphs(seed: int) -> list[tuple[str, str]]:
    """(title, paragraph of 2 or 3 consecutive sentences) from every SciFact abstract, shuffled."""
    rng, out = random.Random(seed), []
    with open(SCIFACT / "corpus.jsonl", encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            sentences = _SENTENCE_END.split(" ".join(row["text"].split()))
            i = 0
            while i < len(sentences):
                n = rng.choice((2, 3))
                out.append((" ".join((row.get("title") or "Untitled").split()), " ".join(sentences[i : i + n])))
                i += n
    rng.shuffle(out)
    return out


def write_files(folder: Path, count: int, seed: int = 0) -> None:
    rng, pool = random.Random(seed), paragraphs(seed)
    folder.mkdir(parents=True)
    for k in range(count):
        chosen = [pool.pop() for _ in range(2 if rng.random() < 0.3 else 1)]
        text = chosen[0][0] + "\n\n" + "\n\n".join(p for _, p in chosen) + "\n"
        (folder / f"article-{k:05d}.txt").write_text(text, encoding="utf-8")


def run(args: list[str], kill_after: float | None = None, root: Path | None = None) -> dict[str, Any]:
    """One fresh `assistant` process: its wall time, peak RSS, exit status and JSON output; with
    ``kill_after``, killed that many seconds after its first commit (``root``/index/CURRENT appears)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        child = subprocess.Popen([*ASSISTANT, *args], stdout=out, stderr=subprocess.DEVNULL)
        if kill_after is not None and root is not None:
            while not (root / "index" / "CURRENT").exists() and child.poll() is None:
                time.sleep(0.05)
            time.sleep(kill_after)
            child.kill()  # SIGKILL
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode("utf-8")
    return {"seconds": time.perf_counter() - start, "peak_rss_mb": usage.ru_maxrss / 1024,
            "returncode": child.returncode, "json": json.loads(text) if child.returncode == 0 else None}


def project(base: Path, name: str, model: Path) -> Path:
    root = base / name
    (root / "index").mkdir(parents=True)
    shutil.copytree(model, root / "index" / "model")
    return root


def sample(root: Path, passages: int, seed: int = 0) -> list[str]:
    """A random sample of the index's passages, with their sentences: the texts the import embedded for them."""
    from assistant.config import Settings
    from assistant.index import store

    snap = store.load(Settings(root=root))
    chosen = random.Random(seed).sample(snap.passages, min(passages, len(snap.passages)))
    return [p.text for p in chosen] + [p.text[a - p.start : b - p.start] for p in chosen for a, b in p.sentences]


def encoder(model: Path, threads: int) -> Any:
    from assistant.index import onnx

    meta = json.loads((model / "all-MiniLM-L6-v2.json").read_text())
    return onnx.OnnxEncoder("all-MiniLM-L6-v2", model / "all-MiniLM-L6-v2.int8.onnx", Path(meta["model_dir"]),
                            int(meta["max_tokens"]), threads=threads)


def floor(texts: list[str], model: Path, threads: int = 0) -> float:
    """Seconds to embed ``texts`` as the import does (longest first, 32 a batch), nothing else."""
    from assistant.index.embed import encode_batches

    enc = encoder(model, threads)
    enc.encode(texts[:8])  # warm
    start = time.perf_counter()
    encode_batches(enc, texts, 32)
    return time.perf_counter() - start


_WORKER: Any = None


def _start_worker(model: Path) -> None:
    global _WORKER
    _WORKER = encoder(model, threads=1)


def _encode(texts: list[str]) -> Any:
    return _WORKER.encode(texts)


def pool_floor(texts: list[str], model: Path, workers: int) -> float:
    """Seconds for ``workers`` processes of one thread each to embed ``texts`` in batches of 32."""
    ordered = sorted(texts, key=len, reverse=True)
    batches = [ordered[i : i + 32] for i in range(0, len(ordered), 32)]
    with ProcessPoolExecutor(workers, initializer=_start_worker, initargs=(model,)) as pool:
        list(pool.map(_encode, [texts[:8]] * workers))  # loaded and warm
        start = time.perf_counter()
        list(pool.map(_encode, batches))
        return time.perf_counter() - start


def import_size(base: Path, model: Path, count: int, floor_passages: int) -> dict[str, Any]:
    files = base / f"files-{count}"
    write_files(files, count)
    root = project(base, f"import-{count}", model)
    done = run(["--root", str(root), "add", str(files), "--json"])
    assert done["returncode"] == 0, done
    index = done["json"]["index"]
    texts = sample(root, floor_passages)
    chosen = min(floor_passages, index["passages"])
    seconds = floor(texts, model)
    out = {"files": count, "passages": index["passages"], "sentences_embedded": index["sentences_embedded"],
           "seconds": done["seconds"], "peak_rss_mb": done["peak_rss_mb"],
           "passages_per_s": index["passages"] / done["seconds"],
           "floor_sample_passages": chosen, "floor_passages_per_s": chosen / seconds}
    out["ratio_to_floor"] = out["passages_per_s"] / out["floor_passages_per_s"]
    shutil.rmtree(root)
    return out


def kill_and_resume(base: Path, model: Path, count: int, full_seconds: float, seed: int) -> dict[str, Any]:
    from assistant.config import Settings
    from assistant.index import store

    files = base / f"files-{count}"
    root = project(base, f"killed-{count}", model)
    # A random moment after the first commit (before it, nothing is committed and nothing to prove).
    at = random.Random(seed).uniform(0.0, 0.2) * full_seconds
    killed = run(["--root", str(root), "add", str(files), "--json"], kill_after=at, root=root)
    snap = store.load_or_none(Settings(root=root))
    committed = snap.manifest.passages if snap else 0
    resumed = run(["--root", str(root), "add", str(files), "--json"])
    index = resumed["json"]["index"]
    return {"files": count, "killed_after_first_commit_s": at, "killed_returncode": killed["returncode"],
            "committed_passages": committed, "committed_sources": len(snap.manifest.sources) if snap else 0,
            "resume_embedded": index["embedded"], "resume_reused": index["reused"], "passages": index["passages"],
            "committed_embedded_again": committed - index["reused"], "resume_seconds": resumed["seconds"]}


def workers(model: Path, texts: list[str]) -> dict[str, float]:
    rates: dict[str, list[float]] = {"1 thread": [], "2 threads": [], "2 processes x 1 thread": []}
    for _ in range(2):
        rates["1 thread"].append(len(texts) / floor(texts, model, threads=1))
        rates["2 threads"].append(len(texts) / floor(texts, model, threads=2))
        rates["2 processes x 1 thread"].append(len(texts) / pool_floor(texts, model, 2))
    return {name: max(values) for name, values in rates.items()}


def resume_only(count: int, full_seconds: float, seed: int) -> None:
    from assistant.config import Settings
    from assistant.session import Assistant

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        base = Path(tmp)
        template = Settings(root=base / "template")
        Assistant(template).encoders.ensure_export()
        write_files(base / f"files-{count}", count)
        report = {"date": time.strftime("%Y-%m-%d"), "seed": seed,
                  "kill": kill_and_resume(base, template.index_dir / "model", count, full_seconds, seed)}
    print(report)
    (ROOT / "benchmarks" / "results" / "ingest-resume.json").write_text(json.dumps(report, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--floor-passages", type=int, default=3000)
    parser.add_argument("--worker-passages", type=int, default=600)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--resume-only", type=float, metavar="SECONDS",
                        help="Only kill and resume the first size; SECONDS: its import time in a full run.")
    args = parser.parse_args()
    if args.resume_only:
        resume_only(args.sizes[0], args.resume_only, args.seed)
        return

    from assistant.config import Settings
    from assistant.session import Assistant

    report: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                              "date": time.strftime("%Y-%m-%d"), "seed": args.seed}
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        base = Path(tmp)
        template = Settings(root=base / "template")
        Assistant(template).encoders.ensure_export()  # once, as the first `assistant index` would
        model = template.index_dir / "model"
        report["imports"] = [import_size(base, model, n, args.floor_passages) for n in args.sizes]
        for row in report["imports"]:
            print(f"{row['files']:>6} files: {row['passages']} passages in {row['seconds']:.0f} s, "
                  f"{row['passages_per_s']:.1f} passages/s = {row['ratio_to_floor']:.2f}x the floor "
                  f"({row['floor_passages_per_s']:.1f}), peak RSS {row['peak_rss_mb']:.0f} MB", flush=True)
        small = report["imports"][0]
        report["kill"] = kill_and_resume(base, model, small["files"], small["seconds"], args.seed)
        print(f"killed {report['kill']['killed_after_first_commit_s']:.0f} s after the first commit, with {report['kill']['committed_passages']} "
              f"passages committed; resumed: {report['kill']['committed_embedded_again']} of them embedded again",
              flush=True)
        texts = sample(base / f"killed-{small['files']}", args.worker_passages)
        report["workers_texts_per_s"] = workers(model, texts)
        print(report["workers_texts_per_s"])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report["benchmark_process_peak_rss_mb"] = peak
    out = ROOT / "benchmarks" / "results" / "ingest.json"
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
