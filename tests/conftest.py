"""Shared fixtures: every test gets its own project folder and a fast, exact encoder."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from assistant.config import Settings
from assistant.session import Assistant

SEEDS = Path(__file__).resolve().parent / "fixtures" / "seeds"  # the five seed articles, kept with the tests
FAKE_MODEL = "test-hash"


class HashEncoder:
    """Words hashed into buckets: texts sharing words get similar vectors, exactly and fast."""

    def __init__(self, name: str = FAKE_MODEL, dim: int = 64) -> None:
        self.name = name
        self.dim = dim
        self.encoded = 0  # texts encoded so far

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.encoded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
            if not out[i].any():
                out[i, 0] = 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--store", default="faiss", choices=("faiss", "qdrant"),
                     help="Search backend every test's settings use (qdrant: qdrant-client's local mode).")


@pytest.fixture(autouse=True)
def _isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("ASSISTANT_"):
            monkeypatch.delenv(key)
    store = request.config.getoption("--store")
    if store != "faiss":
        monkeypatch.setenv("ASSISTANT_STORE", store)  # for commands run through the CLI and from_env()
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def encoder() -> HashEncoder:
    return HashEncoder()


@pytest.fixture
def settings(tmp_path: Path, encoder: HashEncoder, request: pytest.FixtureRequest) -> Settings:
    return Settings(root=tmp_path, model=FAKE_MODEL, lock_timeout=0.5, store=request.config.getoption("--store"))


@pytest.fixture
def assistant(settings: Settings, encoder: HashEncoder) -> Assistant:
    """An Assistant over ``settings`` that embeds with the fake encoder."""
    return Assistant(settings, encoder)


def seed_files() -> list[Path]:
    """The five seed articles; fails loudly rather than letting a test run on an empty archive."""
    paths = sorted(SEEDS.glob("*.txt"))
    assert len(paths) == 5, f"expected the five seed articles in {SEEDS}"
    return paths


@pytest.fixture
def seed_paths() -> list[Path]:
    return seed_files()


@pytest.fixture
def archive(settings: Settings, seed_paths: list[Path]) -> Settings:
    """A project whose sources/ holds the five seeds."""
    from assistant.sources import add

    for path in seed_paths:
        add(str(path), settings)
    return settings


@pytest.fixture(scope="session")
def real_index(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Settings:
    """The five seeds archived with `assistant add` and indexed by `assistant index` with the real model, once per run.

    Never changed by a test: tests take a copy (``real_project`` or ``copy_project``).
    """
    import os

    from click.testing import CliRunner

    from assistant.cli import cli

    root = tmp_path_factory.mktemp("real-index")
    env = {key: None for key in os.environ if key.startswith("ASSISTANT_")}
    seeds = seed_files()
    # One build of all five: int8 vectors depend on the batch they were encoded in, and test_embed compares them.
    for args in (["add", "--no-index", *map(str, seeds[:4])],
                 ["add", "--no-index", "--publisher", "CYP Now", "--published", "2021-06-17", str(seeds[4])],
                 ["index", "--quiet"]):
        result = CliRunner().invoke(cli, ["--root", str(root), *args], env=env)
        assert result.exit_code == 0, result.output
    return Settings(root=root, store=pytestconfig.getoption("--store"))


def copy_project(settings: Settings, dest: Path) -> Settings:
    """A copy of a project folder (archive, index and model export) that a test may change."""
    import shutil

    shutil.copytree(settings.root, dest)
    return settings.replace(root=dest)


@pytest.fixture
def real_project(real_index: Settings, tmp_path: Path) -> Settings:
    """This test's own copy of ``real_index``."""
    return copy_project(real_index, tmp_path / "real")


def write_source(settings: Settings, sid: str, title: str, body: str) -> Path:
    """Drop an article into sources/ by hand, as a user might."""
    settings.sources_dir.mkdir(parents=True, exist_ok=True)
    path = settings.sources_dir / f"{sid}.md"
    path.write_text(f"---\ntitle: {title}\n---\n{body}", encoding="utf-8")
    return path
