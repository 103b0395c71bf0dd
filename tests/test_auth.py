"""Editors' credentials, password hashes, signed cookies and the serve command's refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.cli import cli
from assistant.errors import ConfigError
from assistant.web.auth import COOKIE, Access, Editors, Sessions, access_for, hash_password, is_loopback, verify
from assistant.web.auth import load_editors


def test_a_password_is_checked_against_its_hash_or_as_given() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt$") and "correct horse" not in stored
    assert verify("correct horse", stored) and not verify("correct hors", stored)
    assert verify("plain", "plain") and not verify("plain ", "plain")
    assert not verify("x", "scrypt$bad$") and not verify("x", "scrypt$1$2$3$!!$!!")
    editors = Editors({"alice": stored, "bob": "bobs-pass"}, "test")
    assert editors.check("alice", "correct horse") and editors.check("bob", "bobs-pass")
    assert not editors.check("alice", "bobs-pass") and not editors.check("carol", "")


def test_editors_come_from_a_file_or_the_environment(tmp_path: Path) -> None:
    file = tmp_path / "editors.txt"
    file.write_text(f"# newsroom\nalice:{hash_password('a')}\n\nbob:pass:with:colons\n")
    editors = load_editors({}, file)
    assert editors is not None and editors.origin == str(file) and editors.check("bob", "pass:with:colons")
    assert load_editors({"ASSISTANT_EDITORS_FILE": str(file)}) == editors
    from_env = load_editors({"ASSISTANT_EDITORS": "alice:one\n bob:two"})
    assert from_env is not None and from_env.origin == "ASSISTANT_EDITORS" and sorted(from_env.passwords) == ["alice",
                                                                                                            "bob"]
    assert load_editors({}) is None and load_editors({"ASSISTANT_EDITORS": "  "}) is None
    for bad, message in [("alice", "entry 1: expected name:password"), ("a b:c", "entry 1"),
                         ("alice:", "expected name:password"), ("x:y ../x:z", "entry 2")]:
        with pytest.raises(ConfigError, match=message):
            load_editors({"ASSISTANT_EDITORS": bad})
    with pytest.raises(ConfigError, match="cannot read the editors file"):
        load_editors({}, tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("# nobody\n")
    with pytest.raises(ConfigError, match="names no editors"):
        load_editors({}, tmp_path / "empty.txt")


def test_only_a_cookie_signed_by_this_server_names_an_editor() -> None:
    sessions = Sessions()
    access = Access(Editors({"alice": "a"}, "test"), sessions)
    cookie = sessions.issue("alice")
    assert access.editor_of({COOKIE: cookie}) == "alice"
    assert access.editor_of({COOKIE: Sessions().issue("alice")}) is None  # another server's key
    assert access.editor_of({COOKIE: cookie[:-2] + ("AA" if cookie[-2:] != "AA" else "BB")}) is None
    assert access.editor_of({COOKIE: sessions.issue("mallory")}) is None  # not an editor
    assert access.editor_of({}) is None and access.editor_of(None) is None
    assert Access(access.editors, sessions, read_only=True).editor_of({COOKIE: cookie}) is None
    assert Access(None, sessions).editor_of({COOKIE: cookie}) is None
    expired = Sessions(b"k" * 32, max_age=-1)
    assert Access(access.editors, expired).editor_of({COOKIE: expired.issue("alice")}) is None


def test_serve_refuses_other_machines_without_editors(tmp_path: Path) -> None:
    for host in ("0.0.0.0", "192.168.1.20", "::"):
        result = CliRunner().invoke(cli, ["--root", str(tmp_path), "serve", "--host", host], env={"ASSISTANT_EDITORS": ""})
        assert result.exit_code == 1
        assert result.output.strip() == (f"Error: --host {host} lets other machines in, and no editors are given: "
                                         "set ASSISTANT_EDITORS or pass --editors FILE, or pass --read-only")
    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "[::1]"))
    bad = CliRunner().invoke(cli, ["--root", str(tmp_path), "serve", "--host", "0.0.0.0"],
                             env={"ASSISTANT_EDITORS": "alice"})
    assert bad.exit_code == 1 and bad.output.startswith("Error: ASSISTANT_EDITORS entry 1: expected name:password")


def test_start_up_says_who_can_do_what() -> None:
    url = "http://127.0.0.1:7860/"
    two = Editors({"a": "x", "b": "y"}, "ASSISTANT_EDITORS")
    assert Access(two, Sessions()).describe(url) == [
        "Anyone who can open http://127.0.0.1:7860/: read and ask.",
        "Editors (2, from ASSISTANT_EDITORS): add, remove and restore articles after signing in at "
        "http://127.0.0.1:7860/login."]
    assert "(--read-only)" in Access(two, Sessions(), read_only=True).describe(url)[1]
    assert "no editors given" in Access(None, Sessions()).describe(url)[1]


def test_a_server_on_this_machine_without_editors_gets_a_one_time_editor() -> None:
    url = "http://127.0.0.1:7860/"
    first, second = access_for("127.0.0.1", None, False), access_for("localhost", None, False)
    assert first.editing and first.editors is not None and second.editors is not None
    password = first.editors.shown
    assert password is not None and len(password) >= 16 and password != second.editors.shown
    assert first.editors.check("local", password) and not first.editors.check("local", str(second.editors.shown))
    lines = first.describe(url)
    assert lines[2].startswith(f"Sign in as local with password {password} ")
    # Given editors, or --read-only, no one-time editor is made; beyond loopback one of the two is required.
    given = Editors({"ana": "x"}, "ASSISTANT_EDITORS")
    assert access_for("127.0.0.1", given, False).editors is given and len(access_for("0.0.0.0", given, False).describe(url)) == 2
    assert not access_for("127.0.0.1", None, True).editing and not access_for("0.0.0.0", None, True).editing
    with pytest.raises(ConfigError, match="lets other machines in"):
        access_for("0.0.0.0", None, False)


def test_hash_password_prints_a_hash_the_file_accepts(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--root", str(tmp_path), "hash-password"], input="s3cret\ns3cret\n")
    assert result.exit_code == 0, result.output
    stored = result.output.strip().splitlines()[-1]
    assert stored.startswith("scrypt$") and verify("s3cret", stored)
