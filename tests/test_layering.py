"""Imports flow one way (docs/design.md section 1): files and geometry -> sources and synthesizers
-> DATASET -> training -> evaluation and restore -> the command line. Read from the source with
``ast``, so a lazy import inside a function counts as much as one at the top of a module."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import blur2video

PACKAGE = Path(blur2video.__file__).resolve().parent

# Every top-level module and subpackage of blur2video, by layer: a unit imports only from its own
# layer or below, and the graph of units has no cycle (so a layer's units import one way too).
LAYERS: tuple[tuple[str, set[str]], ...] = (
    (
        "foundation: errors, image files, metrics",
        {
            "errors",
            "_version",
            "fileio",
            "conventions",
            "settings",
            "runtime",
            "metrics",
            "progress",
            "background",
        },
    ),
    ("geometry", {"geometry"}),
    ("sources and synthesizers; the network", {"synth", "model", "motion_truth"}),
    ("DATASET and streamed datasets", {"data"}),
    ("training", {"losses", "objective", "checkpoints", "train_config", "train_data", "train", "bundle", "recipe"}),
    (
        "evaluation and restore",
        {
            "evaluate",
            "engines",
            "restore",
            "motion_fit",
            "tiling",
            "frame_order",
            "video",
            "outputs",
            "motion_picture",
            "restore_batch",
            "ablate",
        },
    ),
    ("entry points", {"cli", "serve", "__main__", "__init__"}),
)
RANK = {unit: rank for rank, (_, units) in enumerate(LAYERS) for unit in units}


def _module_name(path: Path) -> str:
    parts = ["blur2video", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The blur2video modules ``name`` imports: ``from X import y`` names X.y where that is a module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "blur2video")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            if source.split(".")[0] != "blur2video":
                continue
            for alias in node.names:
                found.add(f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source)
    return found - {name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _unit(module: str) -> str:
    """The top-level module or subpackage holding ``module`` (``__init__`` for the package root)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_every_unit_has_a_layer() -> None:
    units = {_unit(m) for m in _modules()}
    assert units - RANK.keys() == set(), "place the new module in LAYERS (and docs/design.md section 8)"
    assert RANK.keys() - units == set(), "a module in LAYERS is gone: take it out"


def test_imports_go_down_the_layers_only() -> None:
    upward = sorted(
        f"{importer} -> {imported} ({LAYERS[RANK[_unit(importer)]][0]} imports {LAYERS[RANK[_unit(imported)]][0]})"
        for importer, targets in _graph().items()
        for imported in targets
        if RANK[_unit(imported)] > RANK[_unit(importer)]
    )
    assert upward == []


def test_no_cycle_between_subpackages_or_modules() -> None:
    graph = _graph()
    units: dict[str, set[str]] = {}
    for importer, targets in graph.items():
        units.setdefault(_unit(importer), set()).update(_unit(t) for t in targets if _unit(t) != _unit(importer))
    assert _cycle(units) is None
    # modules too; a submodule's import of its own package's __init__ is Python's doing, not a dependency
    modules = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in graph.items()}
    assert _cycle(modules) is None


def test_the_checker_sees_cycles_and_upward_imports() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
    graph = _graph()
    assert "blur2video.fileio" in graph["blur2video.synth.sources"]  # relative imports resolved
    assert "blur2video.progress" in graph["blur2video.engines.export"]  # ``from .. import progress``
    assert "blur2video.synth.api" in graph["blur2video"]  # an import inside a function counts


def test_import_blur2video_loads_no_synthesizer_dataset_or_trainer() -> None:
    heavy = ("blur2video.synth", "blur2video.data", "blur2video.train")
    code = f"import sys, blur2video\nprint(sorted(m for m in sys.modules if m.startswith({heavy!r})))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    lazy = subprocess.run(
        [sys.executable, "-c", "import blur2video; print(blur2video.synthesize_rotation.__module__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert lazy.stdout.strip() == "blur2video.synth.api"
