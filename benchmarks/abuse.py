"""Faults and abuse, counted: kills survived, corruptions detected, bad inputs refused, requests refused without
credentials, and whether anything stored was lost.

Run:  .venv/bin/python benchmarks/abuse.py [--kills 13] [--requests 300]

Works in a temporary project with the five seed articles and a hashed bag-of-words encoder (no model: the
figures are about the archive, the index and the server, not about embedding). Steps:
- kills: `assistant add`-like child processes adding 200 generated articles, killed with SIGKILL at a random
  moment; after each, the index must load and answer and every article stored before must be unchanged;
- corruptions: each kind of damage to the index or to an article must be refused before an answer;
- bad inputs: each must be refused in one line with the archive unchanged;
- requests: a real server on 127.0.0.1 with editors; add, remove, restore, uploads and file objects sent with
  no cookie or a forged one through every route; the archive, index and upload folder must not change.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from assistant.config import Settings
from assistant.errors import AssistantError
from assistant.session import Assistant

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SEEDS = ROOT / "tests" / "fixtures" / "seeds"
QUESTION = "How many referrals were there in 2019-20?"


class HashEncoder:
    """Words hashed into 64 buckets: fast, exact, no model."""

    name = "bench-hash"
    dim = 64

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
            out[i, 0] += 0.0 if out[i].any() else 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def project(folder: Path) -> Settings:
    from assistant.sources import add

    settings = Settings(root=folder, model=HashEncoder.name, lock_timeout=2.0)
    for path in sorted(SEEDS.glob("*.txt")):
        add(str(path), settings)
    Assistant(settings, HashEncoder()).update()
    return settings


def stored(settings: Settings) -> dict[str, bytes]:
    folder = settings.sources_dir
    return {p.name: p.read_bytes() for p in folder.glob("*.md")}


def child(root: str, count: int) -> None:
    """Add ``count`` generated articles, updating the index every 10, until killed."""
    from assistant.sources import add

    settings = Settings(root=Path(root), model=HashEncoder.name, lock_timeout=30.0)
    assistant = Assistant(settings, HashEncoder())
    tmp = Path(tempfile.mkdtemp())
    for n in range(count):
        path = tmp / f"a{n}.txt"
        path.write_text(f"Report {os.getpid()} {n}\n\nThe council said {n * 7 + os.getpid()} families were helped "
                        f"in {2000 + n % 25}. Its review of {n} hubs found the work had cut waiting times.\n")
        add(str(path), settings)
        if n % 10 == 9:
            assistant.update()


def kills(settings: Settings, times: int) -> int:

    survived = 0
    for _ in range(times):
        before = stored(settings)
        proc = subprocess.Popen([sys.executable, __file__, "--child", str(settings.root), "200"])
        time.sleep(random.uniform(0.3, 3.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        after = stored(settings)
        unchanged = all(after.get(name) == data for name, data in before.items())
        try:
            answered = bool(Assistant(settings, HashEncoder()).ask(QUESTION).citations)
        except Exception as exc:  # any failure at all is a kill not survived
            print(f"  after a kill: {exc}", file=sys.stderr)
            answered = False
        survived += unchanged and answered
    Assistant(settings, HashEncoder()).update()
    return survived


def corruptions(settings: Settings) -> tuple[int, int]:
    from assistant.index import store

    def flip(name: str, old: bytes | None = None) -> None:
        path = store.current_path(settings) / name
        data = bytearray(path.read_bytes())
        at = data.find(old) if old else len(data) // 2
        data[at] ^= 0x01
        path.write_bytes(bytes(data))

    def article() -> None:
        path = next(p for p in settings.sources_dir.glob("*.md") if b"642,980" in p.read_bytes())
        path.write_bytes(path.read_bytes().replace(b"642,980", b"999,999"))

    current = settings.index_dir / "CURRENT"
    kinds = [lambda: flip(store.PASSAGES, b"642,980"), lambda: flip(store.VECTORS), lambda: flip(store.SENTENCES),
             lambda: (store.current_path(settings) / "manifest.json").write_text('{"format": 1}'),
             lambda: (store.current_path(settings) / "manifest.json").write_bytes(b"{\"format\": 3, \"sour"),
             lambda: current.write_bytes(b"\xff\xfe gen"), lambda: current.write_text("gen-999999"), article]
    detected = 0
    for damage in kinds:
        backup = Path(tempfile.mkdtemp()) / "copy"
        shutil.copytree(settings.root, backup)
        assistant = Assistant(settings, HashEncoder())
        assistant.ask(QUESTION)  # loaded and answering before the damage
        damage()
        try:
            Assistant(settings, HashEncoder()).ask(QUESTION)  # an answer after the damage: not detected
        except AssistantError as exc:
            detected += "\n" not in str(exc)
        shutil.rmtree(settings.root)
        shutil.copytree(backup, settings.root)
    return detected, len(kinds)


def bad_inputs(settings: Settings) -> tuple[int, int]:
    from assistant.sources import add

    tmp = Path(tempfile.mkdtemp())
    files = {"empty.txt": b"", "binary.txt": bytes(range(256)) * 8, "big.txt": b"word " * 1_000_001,
             "image.png": b"\x89PNG\r\n\x1a\n" + bytes(64), "bad.md": b"---\ntitle: [unclosed\n---\nText.\n",
             "never-closed.md": b"---\ntitle: x\nText.\n", "dup.txt": next(SEEDS.glob("*.txt")).read_bytes()}
    items: list[tuple[str, dict[str, str]]] = []
    for name, data in files.items():
        (tmp / name).write_bytes(data)
        items.append((str(tmp / name), {}))
    ok = tmp / "ok.txt"
    ok.write_text("A title\n\nThe council said it built 12 homes.\n")
    items += [(str(ok), {"title": "T" * 20_000_000}), (str(ok), {"published": "yesterday"}),
              (str(ok), {"url": "x" * 3000}), ("http://127.0.0.1:9/page.html", {}), ("http://10.0.0.1/x", {}),
              (str(tmp / "missing.txt"), {}), ("ftp://example.org/x", {})]
    before, refused = stored(settings), 0
    for item, meta in items:
        try:
            add(item, settings, **meta)
        except AssistantError as exc:
            refused += "\n" not in str(exc)
    return refused, len(items) if stored(settings) == before else -1


def requests_without_credentials(settings: Settings, count: int) -> tuple[int, int, int]:
    """(refused, sent, bytes the upload folder gained)."""
    import httpx
    import uvicorn

    from assistant.web.app import App
    from assistant.web.auth import COOKIE, Access, Editors, Sessions
    from assistant.web.ui import web_app

    upload_dir = Path(tempfile.mkdtemp())
    os.environ["GRADIO_TEMP_DIR"] = str(upload_dir)  # this benchmark's own process
    sessions = Sessions()
    access = Access(Editors({"alice": "pass"}, "bench"), sessions)
    server = uvicorn.Server(uvicorn.Config(web_app(App(Assistant(settings, HashEncoder())), access),
                                           host="127.0.0.1", port=0, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    sid = sorted(stored(settings))[0].removesuffix(".md")
    file = {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}
    cookies = [{}, {COOKIE: "alice"}, {COOKIE: Sessions().issue("alice")}, {COOKIE: sessions.issue("mallory")}]
    sends = [("call/remove", {"data": [sid]}), ("run/remove", {"data": [sid]}), ("call/restore", {"data": [sid]}),
             ("call/add_pasted", {"data": ["Title", "The council said so.", "", ""]}),
             ("call/add_upload", {"data": [file, "", "", ""]}),
             ("call/chat", {"data": [QUESTION, [{"role": "user", "content": [{"type": "file", "file": file}]}],
                                     "hybrid", 5, [], [], "", ""]})]
    before, refused, sent = stored(settings), 0, 0
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
        while sent < count:
            jar = cookies[sent % len(cookies)]
            if sent % 7 == 6:
                r = c.post("/gradio_api/upload", files={"files": ("a.txt", b"word " * 200_000)}, cookies=jar)
                refused += r.status_code == 403
            else:
                route, body = sends[sent % len(sends)]
                r = c.post(f"/gradio_api/{route}", json=body, cookies=jar)
                text = r.text if r.status_code != 200 or route.startswith("run/") else \
                    c.get(f"/gradio_api/{route}/{r.json()['event_id']}", cookies=jar).text
                refused += r.status_code == 403 or "Sign in as an editor" in text
            sent += 1
    server.should_exit = True
    gained = sum(p.stat().st_size for p in upload_dir.rglob("*") if p.is_file())
    return refused if stored(settings) == before else -1, sent, gained


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=13)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    random.seed(13)
    with tempfile.TemporaryDirectory(prefix="abuse-") as tmp:
        settings = project(Path(tmp) / "project")
        seeds = stored(settings)
        t0 = time.perf_counter()
        survived = kills(settings, args.kills)
        detected, kinds = corruptions(settings)
        refused_inputs, inputs = bad_inputs(settings)
        refused, sent, gained = requests_without_credentials(settings, args.requests)
        lost = sum(stored(settings).get(name) != data for name, data in seeds.items())
        result = {"kills_survived": survived, "kills": args.kills, "corruptions_detected": detected,
                  "corruption_kinds": kinds, "bad_inputs_refused": refused_inputs, "bad_inputs": inputs,
                  "requests_refused": refused, "requests": sent, "upload_bytes_stored": gained,
                  "articles_after_kills": len(stored(settings)), "seed_articles_lost": lost,
                  "seconds": round(time.perf_counter() - t0, 1), "python": sys.version.split()[0]}
    for key, value in result.items():
        print(f"{key:>24}: {value}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "abuse.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
