"""The code's shape: each layer imports only downward, nothing but the entry point
imports the command line, no private name is imported across modules, no import
runs for its side effects, no modules import each other, and only ``api.errors``
(which maps domain errors to statuses) and ``api.deps`` (authentication) speak HTTP errors.

archive < ingest < search < api. Inside api, the command line (``api.cli``, imported
by the ``vestige`` entry point alone) and the HTTP side sit above what they share:
``BASE``, the pipeline, the schema, the background workers and export.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("archive", "ingest", "search", "api")
CLI = "api.cli"
BASE = (
    "api.pipeline",
    "api.watching",
    "api.schema",
    "api.models",
    "api.jobs",
    "api.scheduler",
    "api.export",
)
HTTP_IN_BASE = ("api.export.routes",)
# Route modules raise domain errors (archive.errors); these alone use HTTPException.
HTTP_ERRORS = ("api.errors", "api.deps")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the module imported (``from m import n``: m.n when that is a module)
    names: tuple[str, ...]  # names taken from a module (``from m import a, b``)
    line: int


def modules(root: Path) -> dict[str, Path]:
    """Every module of the four packages under ``root``, by dotted name."""
    found = {}
    for layer in LAYERS:
        for path in sorted((root / layer).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(root: Path) -> Iterator[Import]:
    """Every import statement of the packages under ``root``, nested ones included."""
    known = modules(root)
    for module, path in known.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield Import(module, alias.name, (), node.lineno)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(filter(None, [*anchor, base]))
                names = []
                for alias in node.names:
                    if f"{base}.{alias.name}" in known:
                        yield Import(module, f"{base}.{alias.name}", (), node.lineno)
                    else:
                        names.append(alias.name)
                if names:
                    yield Import(module, base, tuple(names), node.lineno)


def _inside(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _layer(module: str) -> int | None:
    top = module.split(".")[0]
    return LAYERS.index(top) if top in LAYERS else None


def _base(module: str) -> bool:
    return any(_inside(module, b) for b in BASE) and not any(
        _inside(module, h) for h in HTTP_IN_BASE
    )


def violations(root: Path) -> list[str]:
    """What breaks the layering under ``root``, one line each."""
    found = []
    for item in imports(root):
        where = f"{item.module}:{item.line} imports {item.target}"
        source, target = _layer(item.module), _layer(item.target)
        if source is not None and target is not None and target > source:
            found.append(f"{where}: {LAYERS[target]} is above {LAYERS[source]}")
        if _inside(item.target, CLI) and not _inside(item.module, CLI):
            found.append(f"{where}: only the entry point imports the command line")
        elif _base(item.module) and target == LAYERS.index("api") and not _base(item.target):
            found.append(f"{where}: the command line and HTTP side are above {item.module}")
        private = [name for name in item.names if name.startswith("_") and not _dunder(name)]
        if private:
            found.append(f"{where}: private {', '.join(private)}")
    return found


def _dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def side_effect_imports(root: Path) -> list[str]:
    """Imports whose name the module never uses: they run only for what importing does."""
    found = []
    for module, path in modules(root).items():
        tree = ast.parse(path.read_text("utf-8"), str(path))
        bound: dict[str, int] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    bound[alias.asname or alias.name.split(".")[0]] = node.lineno
            elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
                for alias in node.names:
                    bound[alias.asname or alias.name] = node.lineno
        used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
        # Names in strings count as used: __all__ and quoted annotations.
        text = " ".join(
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        )
        found += [
            f"{module}:{line} imports {name} without using it"
            for name, line in bound.items()
            if name not in used and name not in text
        ]
    return found


def cycles(root: Path) -> list[list[str]]:
    """Modules that import each other, directly or round a loop (function-level imports too)."""
    known = modules(root)
    graph: dict[str, set[str]] = {module: set() for module in known}
    for item in imports(root):
        target = item.target
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != item.module:
            graph[item.module].add(target)
    found, done = [], set()

    def visit(module: str, path: list[str]) -> None:
        for target in sorted(graph[module]):
            if target in path:
                found.append([*path[path.index(target) :], target])
            elif target not in done:
                visit(target, [*path, target])
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            visit(module, [module])
    return found


def http_exceptions(root: Path) -> list[str]:
    """Modules other than :data:`HTTP_ERRORS` that import ``HTTPException``."""
    return [
        f"{item.module}:{item.line} imports HTTPException: raise a domain error"
        for item in imports(root)
        if "HTTPException" in item.names and item.module not in HTTP_ERRORS
    ]


def test_layers_import_only_downward() -> None:
    assert violations(ROOT) == []


def test_no_import_runs_for_its_side_effects() -> None:
    assert side_effect_imports(ROOT) == []


def test_no_module_imports_itself_round_a_loop() -> None:
    assert cycles(ROOT) == []


def test_routes_raise_domain_errors_not_http_ones() -> None:
    assert http_exceptions(ROOT) == []


def test_the_schema_names_every_table() -> None:
    """``api.schema.TABLES`` (what a new catalog is created with) holds every stage's tables."""
    for module in modules(ROOT):
        if not module.startswith(("archive.migrations.versions", "archive.migrations.env")):
            importlib.import_module(module)
    from api.schema import TABLES
    from archive.catalog import Base

    assert sorted(table.name for table in TABLES) == sorted(Base.metadata.tables)


def test_the_check_sees_each_kind_of_violation(tmp_path: Path) -> None:
    files = {
        "archive/__init__.py": "",
        "archive/store.py": "def write():\n    from ingest import documents\n",
        "ingest/__init__.py": "",
        "ingest/documents.py": "from archive.store import _secret, write\n",
        "search/__init__.py": "",
        "api/__init__.py": "",
        "api/pipeline.py": "from api import pages\n",
        "api/pages.py": "from api.cli import common\n",
        "api/cli/__init__.py": "from api.cli import common\n",
        "api/cli/common.py": "from .. import pipeline\nfrom ..pipeline import run\n",
        "search/a.py": "from search import b\n",
        "search/b.py": "def late():\n    import search.a\n",
        "search/c.py": "import search.b  # registers something\n",
        "api/routes.py": "from fastapi import HTTPException\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert sorted(violations(tmp_path)) == [
        "api.pages:1 imports api.cli.common: only the entry point imports the command line",
        "api.pipeline:1 imports api.pages: the command line and HTTP side are above api.pipeline",
        "archive.store:2 imports ingest.documents: ingest is above archive",
        "ingest.documents:1 imports archive.store: private _secret",
    ]
    assert ["search.a", "search.b", "search.a"] in cycles(tmp_path)
    assert "search.c:1 imports search without using it" in side_effect_imports(tmp_path)
    assert http_exceptions(tmp_path) == ["api.routes:1 imports HTTPException: raise a domain error"]
