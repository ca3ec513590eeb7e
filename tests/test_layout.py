"""The arrows between the repository's packages point one way: nothing the product or the benchmarks
run imports the tests, and the monitor (whose Lambda ships without training/) imports nothing of
training/."""
import ast
from pathlib import Path

import pytest

import settings

ROOT = settings.PROJECT_ROOT
PRODUCT_DIRS = ("bench", "handlers", "imaging", "local", "monitoring", "reviewing", "training")


def imported_modules(path: Path) -> set:
    """Every module an import statement in the file names (absolute imports; relative ones are local)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def python_files(*directories) -> list:
    return sorted(path for directory in directories for path in (ROOT / directory).rglob("*.py")
                  if "__pycache__" not in path.parts)


def importers_of(package: str, files) -> list:
    return [f"{path.relative_to(ROOT)} imports {name}" for path in files for name in sorted(imported_modules(path))
            if name == package or name.startswith(package + ".")]


def test_imported_modules_sees_every_form_of_import(tmp_path):
    source = tmp_path / "sample.py"
    source.write_text("import tests.a\nfrom tests import b\nfrom tests.c import d\nfrom . import e\n"
                      "def f():\n    import training.x\n")

    assert imported_modules(source) == {"tests.a", "tests", "tests.c", "training.x"}


@pytest.mark.parametrize("directory", PRODUCT_DIRS + ("settings.py",))
def test_nothing_outside_the_tests_imports_them(directory):
    files = [ROOT / directory] if directory.endswith(".py") else python_files(directory)

    assert files and importers_of("tests", files) == []


def test_the_monitoring_package_imports_nothing_of_training():
    files = python_files("monitoring")

    assert files and importers_of("training", files) == []
