"""One over-long paragraph: `assistant add` of a 4.9 MB single-paragraph file, as a fresh process.

Run:  .venv/bin/python benchmarks/long_paragraph.py [--megabytes 4.9]

Uses a copy of the project's own sources/ and index/ (run `make index` first, so the ONNX export is
there). Measured in one run:
- cleaning and chunking the file alone, in this process (pysbd is given at most
  `chunk.SEGMENT_MAX` characters at a time, so the time grows linearly with the paragraph);
- `assistant add FILE` from start to exit: import, chunk, embed every passage and sentence, write.
The target is 30 s for 4.9 MB; before paragraphs were cut, 4.6 MB was still splitting after 10 minutes.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RESULTS = ROOT / "benchmarks" / "results"
SENTENCES = [
    "The council said on Monday that 642,980 referrals were made to children's social care in 2019-20.",
    "Mr. Smith, the director, told councillors the figure was up 4% on the year before.",
    "Foster carers in the county looked after 1,204 children, according to the report.",
    "The review found that spending on late intervention had risen to £10.5 billion.",
]


def paragraph(megabytes: float) -> str:
    """One line of prose, no paragraph break, about ``megabytes`` MB of UTF-8."""
    target = int(megabytes * 1_000_000)
    parts: list[str] = []
    size = 0
    n = 0
    while size < target:
        sentence = SENTENCES[n % len(SENTENCES)].replace("2019-20", f"20{n % 90 + 10}")
        parts.append(sentence)
        size += len(sentence.encode("utf-8")) + 1
        n += 1
    return " ".join(parts) + "\n"


def chunk_seconds(text: str) -> tuple[float, int]:
    from assistant.index.chunk import chunk
    from assistant.index.clean import clean

    t0 = time.perf_counter()
    passages = chunk(text, clean(text, 0), "long", 450)
    return time.perf_counter() - t0, len(passages)


def add_seconds(text: str) -> float:
    with tempfile.TemporaryDirectory(prefix="long-paragraph-") as tmp:
        root = Path(tmp)
        shutil.copytree(ROOT / "sources", root / "sources")
        shutil.copytree(ROOT / "index", root / "index", ignore=shutil.ignore_patterns(".lock"))
        subprocess.run([str(BIN / "assistant"), "--root", str(root), "index"], check=True, capture_output=True)
        article = root / "long.txt"
        article.write_text(text, encoding="utf-8")
        t0 = time.perf_counter()
        subprocess.run([str(BIN / "assistant"), "--root", str(root), "add", str(article)], check=True,
                       capture_output=True)
        return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=4.9)
    args = parser.parse_args()
    text = paragraph(args.megabytes)
    chunk_s, passages = chunk_seconds(text)
    add_s = add_seconds(text)
    result = {"bytes": len(text.encode("utf-8")), "passages": passages, "chunk_seconds": round(chunk_s, 2),
              "add_seconds": round(add_s, 2), "machine": platform.machine(), "python": platform.python_version()}
    print(f"{result['bytes']:,} bytes in one paragraph: {passages:,} passages; "
          f"clean + chunk {chunk_s:.1f} s; `assistant add` {add_s:.1f} s (target 30 s)")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "long_paragraph.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
