"""The package's shape: which stage may import which, and no import cycle, checked on every import statement."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support import REPO

PACKAGE = REPO / "dfembed"
LAYERS = ("core", "faces", "model", "audio")  # shared by every stage; they import no stage
STAGES = ("crop", "train", "infer", "evaluate", "detectors", "temporal", "export", "explain", "serve")
#: Modules of another stage that a stage may import (beside the shared layers).
ALLOWED = {
    "crop": set(),
    # the audio modality reads the tiles' groups and sources as it reads the face manifest's groups
    "train": {"crop.manifest", "crop.naming", "crop.videos", "crop.audio_manifest", "evaluate.metrics"},
    "infer": {"crop.sources", "crop.datasets", "crop.discovery"},
    # evaluate reads inference's CSV and record (submission), scores a gallery (scoring), aggregates frames as
    # inference does (aggregate), reads labels as the crop stage finds media (sources, datasets), and draws
    # self-blends exactly as training makes them (train.pseudo, for gallery --sbi).
    "evaluate": {"infer.submission", "infer.scoring", "infer.aggregate", "crop.sources", "crop.datasets",
                 "train.pseudo"},
    "detectors": set(),  # the detector comparison: faces' registry, media and geometry only
    # embed reads the crop folder as videos and appends its index like the crop journal; temporal train
    # splits videos by group, checkpoints and validates exactly as the training stage does.
    "temporal": {"crop.manifest", "crop.videos", "train.crops", "train.split", "train.run_folder",
                 "train.callbacks", "evaluate.metrics"},
    "export": set(),  # the model layer holds what it exports (network, classifier, SVM head, contract)
    # explain and serve load and score as inference does (models, config, aggregate); serve picks faces to
    # explain as explain does (select)
    "explain": {"infer.models", "infer.config", "infer.aggregate"},
    "serve": {"infer.models", "infer.config", "infer.aggregate", "explain.select"},
}


def _imports(path: Path) -> list[str]:
    """Every ``dfembed`` module a file imports, at any depth (lazy imports too), without the prefix."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dfembed."):
            found.append(node.module.removeprefix("dfembed."))
        elif isinstance(node, ast.Import):
            found += [a.name.removeprefix("dfembed.") for a in node.names if a.name.startswith("dfembed.")]
    return found


def _modules(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).glob("*.py"))


@pytest.mark.parametrize("layer", LAYERS)
def test_shared_layers_import_no_stage(layer: str) -> None:
    allowed = {"core", layer} | ({"core", "faces"} if layer == "faces" else set())
    wrong = [(p.name, m) for p in _modules(layer) for m in _imports(p) if m.split(".")[0] not in allowed]
    assert not wrong, f"dfembed.{layer} may import only {sorted(allowed)}: {wrong}"


@pytest.mark.parametrize("stage", STAGES)
def test_stages_import_only_the_layers_and_the_allowed_modules_of_other_stages(stage: str) -> None:
    def ok(module: str) -> bool:
        top = module.split(".")[0]
        return top in LAYERS or top == stage or module in ALLOWED[stage]

    wrong = [(p.name, m) for p in _modules(stage) for m in _imports(p) if not ok(m)]
    assert not wrong, f"dfembed.{stage} imports outside its allowed arrows: {wrong}"


def test_sub_package_init_files_are_empty() -> None:
    for folder in (*LAYERS, *STAGES):
        assert (PACKAGE / folder / "__init__.py").read_text(encoding="utf-8") == "", folder


def test_tests_mirror_the_package() -> None:
    for folder in (*LAYERS, *STAGES):
        assert (REPO / "tests" / folder).is_dir(), folder


# --- the module import graph ---------------------------------------------------------------------------------


def _module_name(path: Path) -> str:
    """``dfembed/a/b.py`` → ``dfembed.a.b``; a package's ``__init__.py`` is the package itself."""
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_modules() -> dict[str, Path]:
    """Every module of the package by its dotted name."""
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    """The module a ``from … import`` names, a relative one resolved against the importer's package."""
    if not node.level:
        return node.module or ""
    package = importer.split(".") if is_package else importer.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _targets(node: ast.AST, importer: str, is_package: bool, modules: dict[str, Path]) -> set[str]:
    """The package's modules one import statement imports: ``from m import name`` imports ``m.name`` when that
    is a module, else ``m``; anything outside the package is left out."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in modules}
    if not isinstance(node, ast.ImportFrom):
        return set()
    module = _absolute(node, importer, is_package)
    found = {f"{module}.{alias.name}" for alias in node.names if f"{module}.{alias.name}" in modules}
    if len(found) < len(node.names) and module in modules:
        found.add(module)
    return found


def _import_graph() -> dict[str, set[str]]:
    """Module → the package's modules it imports anywhere in its file: at the top, in functions, under
    ``if TYPE_CHECKING``; a module importing itself is left out."""
    modules = _package_modules()
    graph = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        edges = set().union(*(_targets(node, name, is_package, modules) for node in ast.walk(tree)))
        graph[name] = edges - {name}
    return graph


def _strong_components(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of ``graph``, each sorted (the package is far from the
    recursion limit: a path visits each module once)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for child in sorted(graph[node]):
            if child not in index:
                visit(child)
                low[node] = min(low[node], low[child])
            elif child in stack:
                low[node] = min(low[node], index[child])
        if low[node] == index[node]:
            component = stack[stack.index(node):]
            del stack[stack.index(node):]
            components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def _cycle_in(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    """One import cycle through a component's first module: the shortest path back to it (breadth first)."""
    start, members = component[0], set(component)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node] & members):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"{component} is not a strongly connected component of more than one module")


def _cycles(graph: dict[str, set[str]]) -> list[str]:
    """Each import cycle of ``graph`` as ``a -> b -> a``, one per strongly connected component."""
    return [" -> ".join(_cycle_in(c, graph)) for c in _strong_components(graph) if len(c) > 1]


def test_the_cycle_search_finds_cycles_at_any_length_and_only_them() -> None:
    # a -> b -> c -> a is one cycle of three; d -> e -> d another; f only imports into them
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"e"}, "e": {"d"}, "f": {"a", "e"}}
    assert sorted(_cycles(graph)) == ["a -> b -> c -> a", "d -> e -> d"]
    assert _cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []  # a diamond has no cycle


def test_the_import_graph_counts_lazy_imports_and_imported_sub_modules(tmp_path: Path) -> None:
    modules = {"dfembed.x": tmp_path, "dfembed.x.y": tmp_path, "dfembed.z": tmp_path}
    lazy = ast.parse("def f():\n    from dfembed.x import y, CONSTANT\n    import dfembed.z\n")
    found = set().union(*(_targets(node, "dfembed.w", False, modules) for node in ast.walk(lazy)))
    assert found == {"dfembed.x.y", "dfembed.x", "dfembed.z"}
    relative = ast.parse("from .y import name\nfrom . import y\n").body
    assert _targets(relative[0], "dfembed.x", True, modules) == {"dfembed.x.y"}
    assert _targets(relative[1], "dfembed.x.q", False, modules) == {"dfembed.x.y"}


def test_no_module_imports_itself_back_through_any_chain() -> None:
    graph = _import_graph()
    assert "dfembed.faces.detector" in graph["dfembed.crop.job"]  # the graph is the real one
    cycles = _cycles(graph)
    assert not cycles, "import cycles (lazy and TYPE_CHECKING imports count): " + "; ".join(cycles)


#: Options that choose a training modality or an inference extension: the registries read them, not the stages.
PLUG_IN_OPTIONS = {"modality", "temporal", "audio_model", "fuse", "aggregate", "temporal_model", "temporal_fallback"}


@pytest.mark.parametrize(("module", "function"), [("train/run.py", "run_train"), ("infer/run.py", "run_inference")])
def test_stage_entries_read_no_modality_or_aggregation_option(module: str, function: str) -> None:
    tree = ast.parse((PACKAGE / module).read_text(encoding="utf-8"))
    body = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == function)
    read = {n.attr for n in ast.walk(body) if isinstance(n, ast.Attribute) and n.attr in PLUG_IN_OPTIONS}
    assert not read, f"{function} reads {sorted(read)}: plug the step in through its registry instead"
