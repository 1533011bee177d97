"""The README's python examples run as written (they are the first code users copy).

Every ```python block runs, in order, in one namespace; blocks marked
``<!-- no-test: reason -->`` on the line before are skipped (e.g. a cluster
example that needs a scheduler address)."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"(<!-- no-test: [^>]*-->\n)?```python\n(.*?)```", re.S)


def _blocks() -> list[tuple[int, str]]:
    text = README.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, m.start(2)) + 1, m.group(2))
        for m in BLOCK.finditer(text)
        if not m.group(1)
    ]


def test_usage_block_present():
    text = README.read_text(encoding="utf-8")
    assert re.search(r"## Usage\n\n```python\n", text), (
        "README.md has no python block under '## Usage'"
    )


def test_python_blocks_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # blocks that write files write them here
    ns: dict = {}
    blocks = _blocks()
    assert blocks
    for line, code in blocks:
        exec(compile(code, f"README.md (block at line {line})", "exec"), ns)
