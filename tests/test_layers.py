"""The package's layers point one way.

    config/data → tokenizers → models → training/store → generation/metrics → scoreboard → experiments → exercises

A module may import modules of its own layer and of the layers to its left, never to its right —
at the top of the file or inside a function (an import inside a function does not get round the
rule). Every module must be placed in a layer here: a new module fails this test until it is.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "llmcourse"

# the layers, lowest first; a name is a module (``training``) or a sub-package (``models``: all of it)
LAYERS: list[tuple[str, set[str]]] = [
    ("config/data", {"config", "data", "sealed", "notebook"}),
    ("tokenizers", {"tokenizers", "korean", "tokenstats"}),
    ("models", {"models"}),
    ("training/store", {"training", "checkpoints", "store"}),
    ("generation/metrics", {"generation", "metrics", "plots"}),
    ("scoreboard", {"scoreboard"}),
    ("experiments", {"experiments", "performance"}),
    ("exercises", {"exercises"}),
]


def layer_of(module: str) -> int:
    """The layer index of ``llmcourse.<module>`` (dotted, without the package name)."""
    head = module.split(".")[0]
    for index, (_, members) in enumerate(LAYERS):
        if head in members:
            return index
    raise KeyError(f"llmcourse.{module} is in no layer; add it to LAYERS in {Path(__file__).name}")


def imported_modules(source: str, module: str) -> list[tuple[int, str]]:
    """(line, imported llmcourse module without the package name) for every import of the package
    in ``source``, the code of ``llmcourse.<module>``; imports inside functions included. An import
    of the package itself (``import llmcourse``, ``from llmcourse import __version__``) is reported
    as ``""``."""
    package_parts = module.split(".")[:-1]  # where a relative import starts
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "llmcourse" or alias.name.startswith("llmcourse."):
                    found.append((node.lineno, alias.name.removeprefix("llmcourse").lstrip(".")))
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from .x import y
                base = package_parts[: len(package_parts) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and (node.module == "llmcourse" or node.module.startswith("llmcourse.")):
                target = node.module.removeprefix("llmcourse").lstrip(".")
            else:
                continue
            for alias in node.names:  # ``from llmcourse import data`` imports the module llmcourse.data
                sub = f"{target}.{alias.name}" if target else alias.name
                found.append((node.lineno, sub if _is_module(sub) else target))
    return found


def _is_module(dotted: str) -> bool:
    path = PACKAGE.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def violations(source: str, module: str) -> list[str]:
    """Every import in ``source`` (the code of ``llmcourse.<module>``) that points up the layers."""
    mine = layer_of(module)
    out = []
    for line, target in imported_modules(source, module):
        if target == "":
            out.append(f"llmcourse.{module}:{line} imports the package itself (llmcourse/__init__.py is the "
                       "notebooks' entry point); import the module that defines the name")
            continue
        theirs = layer_of(target)
        if theirs > mine:
            out.append(f"llmcourse.{module}:{line} imports llmcourse.{target}: layer '{LAYERS[mine][0]}' may not "
                       f"import from the higher layer '{LAYERS[theirs][0]}'")
    return out


def package_modules() -> list[str]:
    modules = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts == ["__init__"]:
            continue  # the package's entry point re-exports from below; it is no layer
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules.append(".".join(parts))
    return modules


@pytest.mark.parametrize("module", package_modules())
def test_imports_point_down_the_layers(module):
    path = PACKAGE.joinpath(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    assert violations(path.read_text(encoding="utf-8"), module) == []


def test_every_layer_name_exists():
    names = {m.split(".")[0] for m in package_modules()}
    assert set().union(*(members for _, members in LAYERS)) <= names | {"sealed", "store", "plots"}


def test_an_upward_import_is_caught_at_the_top_and_inside_a_function():
    upward = "from llmcourse.scoreboard import record\n"
    assert violations(upward, "models.rnn") == [
        "llmcourse.models.rnn:1 imports llmcourse.scoreboard: layer 'models' may not import from the higher "
        "layer 'scoreboard'"]
    hidden = "def f():\n    from llmcourse import metrics\n    return metrics\n"
    assert len(violations(hidden, "models.transformer")) == 1
    relative = "from ..experiments import recurrent\n"
    assert "llmcourse.experiments.recurrent" in violations(relative, "models.rnn")[0]
    facade = "import llmcourse\n"
    assert "imports the package itself" in violations(facade, "data")[0]


def test_downward_and_sideways_imports_are_allowed():
    assert violations("from llmcourse.data import TokenWindows\nfrom llmcourse import generation\n",
                      "experiments.transformer") == []
    assert violations("from llmcourse.experiments import recurrent\n", "experiments.transformer") == []


def test_a_module_in_no_layer_is_an_error():
    with pytest.raises(KeyError, match="add it to LAYERS"):
        layer_of("brand_new_module")
