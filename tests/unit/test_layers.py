"""The package's folders are the stages of the data flow, and imports point down it: a module may
import its own folder and the layers below, never one above (nor a sibling: evaluation and serving
share their inference code through `model/`). The bottom layer (contracts, config and the label
vocabularies they validate against) is plain data and may import itself."""

import ast
from pathlib import Path

import scitune

PACKAGE = Path(scitune.__file__).parent

LAYERS = {
    "contracts": 0, "config": 0, "presets": 0, "figure_types": 0,
    "sources": 1,
    "curate": 2,
    "model": 3,
    "train": 4,
    "evaluate": 5, "serve": 5,
    "pipeline": 6,
    "cli": 7,
}


def _layer(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):  # imports inside functions count: they run too
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("scitune."):
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.startswith("scitune.")]
    return found


def test_every_top_level_module_has_a_layer():
    names = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"} | {
        p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert names <= set(LAYERS), f"give these a layer in this test: {sorted(names - set(LAYERS))}"


def test_imports_point_down_the_data_flow():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if here == "__init__":
            continue
        for module in _imports(path):
            there = _layer(module)
            if there == here:
                continue
            if LAYERS[there] > LAYERS[here] or (LAYERS[there] == LAYERS[here] > 0):
                wrong.append(f"{path.relative_to(PACKAGE)} imports {module} ({here} → {there})")
    assert not wrong, "\n".join(wrong)
