"""fastact/__init__.pyi is what tools/gen_stubs.py writes for the package as it is now.

The elementwise functions are generated at import time, so the stub is the only
place type checkers and IDEs see them: a stale stub silently misleads users.
The full comparison with the runtime (types included) is mypy's stubtest (see
tools/stubtest-allowlist.txt); these checks need nothing but the standard library.
"""

import ast
import inspect

import fastact
from tools import gen_stubs


def _stub_text() -> str:
    return gen_stubs.STUB.read_text(encoding="utf-8")


def _stub_functions() -> dict[str, list[ast.FunctionDef]]:
    """Top-level defs of the committed stub by name (several for an overload)."""
    defs: dict[str, list[ast.FunctionDef]] = {}
    for node in ast.parse(_stub_text()).body:
        if isinstance(node, ast.FunctionDef):
            defs.setdefault(node.name, []).append(node)
    return defs


def test_stub_is_current():
    assert _stub_text() == gen_stubs.render(), (
        "fastact/__init__.pyi is stale: run python tools/gen_stubs.py and commit it"
    )


def test_every_public_name_in_stub():
    tree = ast.parse(_stub_text())
    declared = set(_stub_functions())
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            declared.update(a.asname or a.name for a in node.names)
        elif isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "__all__":
            assert ast.literal_eval(node.value) == fastact.__all__
    assert set(fastact.__all__) <= declared
    assert "preprocessing" in declared  # a submodule users reach as fastact.preprocessing


NONE = inspect.Parameter.empty  # no default


def _kinds(args: ast.arguments) -> list[tuple[str, str, object]]:
    """(name, kind, default) of each parameter of a stub def."""
    pos = args.posonlyargs + args.args
    defaults = [None] * (len(pos) - len(args.defaults)) + list(args.defaults)
    out = [(a.arg, "positional", d) for a, d in zip(pos, defaults)]
    out += [(a.arg, "keyword", d) for a, d in zip(args.kwonlyargs, args.kw_defaults)]
    return [(n, k, NONE if d is None else ast.literal_eval(d)) for n, k, d in out]


def _runtime_kinds(fn) -> list[tuple[str, str, object]]:
    kind = {inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional"}
    return [
        (
            p.name,
            kind.get(p.kind, "keyword" if p.kind is p.KEYWORD_ONLY else str(p.kind)),
            p.default,
        )
        for p in inspect.signature(fn).parameters.values()
    ]


def test_stub_signatures_match_runtime():
    """Names, order, keyword-only markers and defaults of every def; an overload
    may leave a default out (the overload only an explicit value selects)."""
    for name, defs in _stub_functions().items():
        runtime = _runtime_kinds(getattr(fastact, name))
        for node in defs:
            stub = _kinds(node.args)
            assert [s[:2] for s in stub] == [r[:2] for r in runtime], name
            for (pname, _, sd), (_, _, rd) in zip(stub, runtime):
                ok = sd == rd and type(sd) is type(rd) or sd is NONE and len(defs) > 1
                assert ok, f"{name}({pname}=...): stub default {sd!r}, runtime {rd!r}"
