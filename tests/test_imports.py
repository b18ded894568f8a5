"""paddy's layers import only downward, and no module imports another in a cycle, counting the imports made inside
functions. A layer is a top-level module or subpackage; modules of one layer may import each other."""
import ast
from graphlib import CycleError, TopologicalSorter

from conftest import REPO

LAYERS = [  # bottom to top: each may import the ones before it
    {"paddy", "paddy.errors", "paddy.files", "paddy.scoring"},
    {"paddy.models"},
    {"paddy.runs", "paddy.preds"},
    {"paddy.data"},
    {"paddy.infer"},
    {"paddy.learn"},
    {"paddy.config"},
    {"paddy.cv", "paddy.report"},
    {"paddy.kaggle"},
    {"paddy.api"},  # one function per CLI command
    {"paddy.cli", "paddy.kernel_script"},  # the script `paddy kernel` pushes (kaggle/kernel.py reads it as text) runs the CLI in the kernel
    {"paddy.testing"},  # tools for trying paddy without Kaggle (the Kaggle API emulator, competition replicas): nothing in paddy imports them
]
LEVEL = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def modules():
    "{dotted name: path} of every module of the package."
    root = REPO / "paddy"
    return {".".join(("paddy", *p.relative_to(root).with_suffix("").parts)).removesuffix(".__init__"): p for p in root.rglob("*.py")}


def imports(name, path, known):
    "The paddy modules that module `name` imports, at its top or inside a function (absolute or relative)."
    found, package = set(), name if path.stem == "__init__" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level: base = ".".join([*package.split(".")[:len(package.split(".")) - node.level + 1], *filter(None, [node.module])])
            if not base.startswith("paddy"): continue
            for alias in node.names: found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("paddy")}
    return found - {name}


def layer(name):
    "The layer of a module: its own where it has one, else its subpackage or top-level module (`paddy.learn.train` -> `paddy.learn`)."
    return name if name in LEVEL else ".".join(name.split(".")[:2])


def graph():
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def test_every_module_sits_in_a_layer():
    assert {layer(n) for n in modules()} <= set(LEVEL), sorted({layer(n) for n in modules()} - set(LEVEL))


def test_nothing_imports_upward():
    upward = sorted(f"{a} imports {b}" for a, deps in graph().items() for b in deps
                    if layer(b) in LEVEL and LEVEL[layer(b)] > LEVEL.get(layer(a), -1))
    assert not upward, "\n".join(upward)


def test_no_import_cycle():
    try: list(TopologicalSorter(graph()).static_order())
    except CycleError as e: raise AssertionError(f"import cycle: {' -> '.join(e.args[1])}") from None
