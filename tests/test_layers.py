"""The library's layers: every import, at the top or inside a function, runs down the layers, never up, never in a
circle; and no module grows past a few hundred lines."""

import ast

from .conftest import ROOT

# Lowest first. A module imports only modules of lower layers (STYLE.md: config/paths → data, models, plan → train →
# cache → launch → results → claims, narrate, plots → report).
LAYERS = [
    {"paths", "config", "words", "choices", "metrics", "stats"},
    {"measures"},
    {"data", "models", "plan", "checkpoint"},
    {"provenance", "params"},
    {"train"},
    {"cache"},
    {"runner"},
    {"pool", "slurm"},
    {"launch"},
    {"results", "store", "verify"},
    {"verdicts"},
    {"claims", "narrate", "plots"},
    {"render", "summary", "rendered"},
    {"report", "answer", "nbrun"},
]
MAX_LINES = 300
LIB = ROOT / "fmnist_lib"


def imports(source: str) -> set[str]:
    """The fmnist_lib modules a module's source imports, wherever the import statement is (lazy ones included)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 1:  # from .x import y; from . import x, y
            found |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fmnist_lib"):
            rest = node.module.split(".")[1:]
            found |= {rest[0]} if rest else {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("fmnist_lib.")}
    return found


def upward(sources: dict[str, str]) -> list[str]:
    """'a -> b' for each import of a module b that is not in a layer below a's (a circle needs one of these)."""
    layer = {m: i for i, names in enumerate(LAYERS) for m in names}
    return sorted(f"{a} -> {b}" for a, src in sources.items() for b in imports(src)
                  if layer.get(b, len(LAYERS)) >= layer.get(a, -1))


def modules() -> dict[str, str]:
    return {p.stem: p.read_text() for p in LIB.glob("*.py") if p.stem != "__init__"}


def test_every_module_has_a_layer():
    assert set(modules()) == set().union(*LAYERS)


def test_imports_run_down_the_layers():
    assert upward(modules()) == []


def test_an_upward_import_or_a_circle_is_caught_lazy_ones_included():
    lazy = "def f():\n    from .launch import ensure_runs  # a lazy import, as cache once had\n"
    assert upward({"cache": lazy}) == ["cache -> launch"]
    assert upward({"pool": "from . import slurm\n", "slurm": "from .pool import x\n"}) == ["pool -> slurm",
                                                                                          "slurm -> pool"]
    assert upward({"train": "import fmnist_lib.train\n"}) == ["train -> train"]
    assert upward({"plan": "from fmnist_lib import config\n"}) == []


def test_no_module_is_over_a_few_hundred_lines():
    sizes = {name: src.count("\n") for name, src in modules().items()}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}
