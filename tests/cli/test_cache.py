"""`fastact cache info` and `fastact cache clear`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from fastact import cli
from fastact.cpu import loopcache

pytestmark = pytest.mark.skipif(
    not loopcache.enabled(), reason="loop libraries are built on Linux only"
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> str:
    """A cache with the relu and gelu libraries, built by a fresh process."""
    d = tmp_path_factory.mktemp("built")
    env = dict(os.environ, FASTACT_CACHE_DIR=str(d))
    env.pop("FASTACT_NO_LOOPCACHE", None)
    code = "import numpy as np, fastact; fastact.relu(np.ones(3)); fastact.gelu(np.ones(3))"
    subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True, timeout=600)
    assert len([f for f in os.listdir(d) if f.endswith(".so")]) == 2
    return str(d)


@pytest.fixture
def cache(tmp_path, built, monkeypatch) -> str:
    d = str(tmp_path / "cache")
    shutil.copytree(built, d)
    monkeypatch.setenv("FASTACT_CACHE_DIR", d)
    return d


def _info(capsys) -> dict:
    capsys.readouterr()
    assert cli.main(["cache", "info", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _entry(d: str, name: str) -> str:
    (so,) = [f for f in os.listdir(d) if f.startswith(name + "-") and f.endswith(".so")]
    return os.path.join(d, so)


def test_info_intact_cache(cache, capsys):
    r = _info(capsys)
    assert r["dir"] == cache and r["is_dir"]
    names = [e["entry"].split("-")[0] for e in r["entries"]]
    assert names == ["gelu_forward", "relu_forward"]
    assert all(e["valid"] and e["current"] and e["problem"] is None for e in r["entries"])
    assert r["bytes"] == sum(os.path.getsize(os.path.join(cache, f)) for f in os.listdir(cache))
    # the text report
    assert cli.main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert f"cache: {cache}" in out and "2 entries" in out and "0 invalid" in out
    assert out.count("  valid") == 2


def test_info_reports_each_kind_of_damage(cache, capsys):
    gelu = _entry(cache, "gelu_forward")
    with open(gelu, "r+b") as f:
        f.truncate(5000)
    relu = _entry(cache, "relu_forward")
    # relu's entry as another CPU would have it, under that key's own name
    m = json.loads(open(relu[:-3] + ".json").read())
    m["key"]["cpu"] = "some-other-cpu"
    other = os.path.join(cache, f"relu_forward-{loopcache._key_hash(m['key'])}")
    shutil.copy(relu, other + ".so")
    open(other + ".json", "w").write(json.dumps(m))
    # a library left without its sidecar
    shutil.copy(relu, os.path.join(cache, "elu_forward-0123456789abcdef.so"))
    problems = {e["entry"]: e["problem"] for e in _info(capsys)["entries"]}
    assert "truncated" in problems[os.path.basename(gelu)[:-3]]
    assert (
        "another CPU" in problems[os.path.basename(other)]
        and "cpu" in problems[os.path.basename(other)]
    )
    assert "without its sidecar" in problems["elu_forward-0123456789abcdef"]
    assert problems[os.path.basename(relu)[:-3]] is None
    assert cli.main(["cache", "info"]) == 0
    assert "3 invalid" in capsys.readouterr().out


def test_info_stale_sources_are_valid_but_not_current(cache, monkeypatch, capsys):
    from fastact.cpu import activations

    monkeypatch.setattr(activations, "_source_hash", lambda: "0" * 12)
    r = _info(capsys)
    assert [(e["valid"], e["current"]) for e in r["entries"]] == [(True, False)] * 2


def test_clear_removes_only_loop_libraries(cache, capsys):
    open(os.path.join(cache, "notes.txt"), "w").write("keep me")
    open(os.path.join(cache, "gelu_forward-nothex.so"), "w").write("not ours")
    before = set(os.listdir(cache))
    capsys.readouterr()
    assert cli.main(["cache", "clear"]) == 0
    out = capsys.readouterr().out
    assert set(os.listdir(cache)) == {"notes.txt", "gelu_forward-nothex.so"}
    removed = before - set(os.listdir(cache))
    assert len(removed) == 4
    for f in removed:
        assert f"removed {os.path.join(cache, f)}" in out
    assert f"removed 4 files from {cache}" in out
    r = _info(capsys)
    assert r["entries"] == [] and r["bytes"] == 0


def test_cache_is_a_regular_file(tmp_path, monkeypatch, capsys):
    f = tmp_path / "file"
    f.write_text("user data")
    monkeypatch.setenv("FASTACT_CACHE_DIR", str(f))
    r = _info(capsys)
    assert r["is_dir"] is False and r["entries"] == []
    assert cli.main(["cache", "info"]) == 0
    assert "not a directory" in capsys.readouterr().out
    assert cli.main(["cache", "clear"]) == 0
    assert "removed 0 files" in capsys.readouterr().out
    assert f.read_text() == "user data"


def test_help_lists_cache():
    p = subprocess.run(
        [sys.executable, "-m", "fastact.cli", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0
    assert "cache" in p.stdout and "clear" in p.stdout
    p = subprocess.run(
        [sys.executable, "-m", "fastact.cli", "cache", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0 and "info" in p.stdout and "clear" in p.stdout
