"""Dependencies point one way: data <- models <- training, evaluation <- serving."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = {
    "data": {"data"},
    "models": {"data", "models"},
    "evaluation": {"data", "models", "evaluation"},
    "training": {"data", "models", "evaluation", "training"},
    "serving": {"data", "models", "evaluation", "training", "serving"},
}


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(ALLOWED)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_the_layers_beneath_it(package):
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) - ALLOWED[package])
        for path in (ROOT / package).rglob("*.py")
        if imported_packages(path) - ALLOWED[package]
    }
    assert offenders == {}


def test_models_never_import_web_or_training_frameworks():
    for path in (ROOT / "models").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert "fastapi" not in source and "import training" not in source, path
