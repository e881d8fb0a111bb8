"""No import cycles among adm/ modules, and the library never imports its commands (adm/cli). The TypeScript side has import-x/no-cycle in eslint.config.js; this is its
Python twin. Imports are read from the source with ast, not executed, and an import inside a function counts as much
as one at the top: a deferred import only hides a cycle from Python's loader, not from a reader. Imports under
`if TYPE_CHECKING:` are left out (they never run; import-x skips `import type` the same way)."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set

ADM = Path(__file__).resolve().parents[2] / "adm"


def _type_checking_only(node: ast.AST) -> bool:
    t = node.test if isinstance(node, ast.If) else None
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imported(tree: ast.Module, modules: Set[str]) -> Set[str]:
    """adm modules that `tree` imports, anywhere but under `if TYPE_CHECKING:`."""
    found: Set[str] = set()
    todo: List[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        for child in ast.iter_child_nodes(node):
            if _type_checking_only(child):
                todo.extend(child.orelse)
                continue
            names: List[str] = []
            if isinstance(child, ast.Import):
                names = [a.name.split(".")[1] for a in child.names if a.name.startswith("adm.")]
            elif isinstance(child, ast.ImportFrom):
                mod = child.module or ""
                if child.level == 1 or (child.level == 0 and mod == "adm"):
                    names = [mod.split(".")[0]] if mod and child.level == 1 else [a.name for a in child.names]
                elif child.level == 0 and mod.startswith("adm."):
                    names = [mod.split(".")[1]]
            found.update(n for n in names if n in modules)
            todo.append(child)
    return found


def import_graph(folder: Path) -> Dict[str, Set[str]]:
    modules = {p.stem for p in folder.glob("*.py")}
    return {m: _imported(ast.parse((folder / f"{m}.py").read_text(encoding="utf-8")), modules) - {m} for m in modules}


def cycles(graph: Dict[str, Set[str]]) -> List[Set[str]]:
    """The strongly connected components with more than one module (Tarjan), i.e. every set of modules that import one
    another in a circle."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    out: List[Set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_cycles_and_deferred_imports(tmp_path):
    (tmp_path / "a.py").write_text("from .b import f\n")
    (tmp_path / "b.py").write_text("def f():\n    from .c import g\n    return g\n")
    (tmp_path / "c.py").write_text("import adm.a\n")
    (tmp_path / "d.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import x\n")
    (tmp_path / "e.py").write_text("from . import d\n")
    graph = import_graph(tmp_path)
    assert graph["b"] == {"c"} and graph["d"] == set() and graph["e"] == {"d"}
    assert cycles(graph) == [{"a", "b", "c"}]


def test_adm_has_no_import_cycles():
    for folder in (ADM, ADM / "cli"):
        graph = import_graph(folder)
        assert len(graph) > 8
        found = cycles(graph)
        assert not found, f"import cycles among {folder.name} modules: " + "; ".join(" <-> ".join(sorted(c)) for c in found)
    assert import_graph(ADM)["pack"] >= {"manifest", "pack_format"}
    assert import_graph(ADM / "cli")["make_fixture"] >= {"convert", "template"}


def cli_imports(tree: ast.Module) -> List[str]:
    """The imports in a module of adm/ (not adm/cli) that reach adm.cli, under `if TYPE_CHECKING:` or not."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name == "adm.cli" or a.name.startswith("adm.cli.")]
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if (node.level == 0 and (mod == "adm.cli" or mod.startswith("adm.cli."))) or \
                    (node.level == 1 and (mod == "cli" or mod.startswith("cli."))):
                found.append(mod)
            elif (node.level == 1 and not mod) or (node.level == 0 and mod == "adm"):
                found += [f"{mod}.{a.name}" for a in node.names if a.name == "cli"]
    return found


def test_the_cli_import_finder_finds_every_form():
    forms = ["from .cli import convert", "from .cli.train import main", "import adm.cli.eval", "from adm.cli import judge",
             "from . import cli", "from adm import cli", "def f():\n    from .cli.convert import main"]
    for text in forms:
        assert cli_imports(ast.parse(text)), text
    assert not cli_imports(ast.parse("from .client import x\nimport adm.clip\nfrom . import convert"))


def test_library_modules_never_import_the_commands():
    """Python's twin of the layer rule: commands (adm/cli) build on the library, never the other way round."""
    found = {p.name: cli_imports(ast.parse(p.read_text(encoding="utf-8"))) for p in sorted(ADM.glob("*.py"))}
    found = {k: v for k, v in found.items() if v}
    assert not found, f"library modules importing adm.cli: {found}"
