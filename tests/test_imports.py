"""paddy's modules import each other without a cycle, counting the imports made inside functions."""
import ast
from graphlib import CycleError, TopologicalSorter

from conftest import REPO


def imports(path, modules):
    "The paddy modules that the module at `path` imports, at its top or inside a function."
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("paddy."):
            found.add(node.module.split(".")[1])
    return found & modules - {path.stem}


def test_no_import_cycle():
    files = {p.stem: p for p in (REPO / "paddy").glob("*.py")}
    graph = {name: imports(path, set(files)) for name, path in files.items()}
    try: list(TopologicalSorter(graph).static_order())
    except CycleError as e: raise AssertionError(f"import cycle: {' -> '.join(e.args[1])}") from None
