"""The README's usage example runs as written (it is the first code users copy)."""
import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_usage_block_runs():
    text = README.read_text(encoding="utf-8")
    m = re.search(r"## Usage\n\n```python\n(.*?)```", text, re.S)
    assert m, "README.md has no python block under '## Usage'"
    exec(compile(m.group(1), "README.md (usage)", "exec"), {})
