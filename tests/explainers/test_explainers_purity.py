"""explainers/ stays pure: no web or database imports, and heavy libraries load lazily."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import explainers

FORBIDDEN = {
    "flask",
    "flask_babel",
    "flask_wtf",
    "flask_limiter",
    "sqlalchemy",
    "wtforms",
    "portal",
    "alembic",
    "celery",
}
PACKAGE = Path(explainers.__file__).parent


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None))
            in ("import_module", "__import__")
            and node.args
        ):
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                names.add(first.value)
    return names


def test_every_module_is_scanned() -> None:
    files = sorted(PACKAGE.rglob("*.py"))
    assert {f.name for f in files} >= {
        "__init__.py",
        "loading.py",
        "manifest.py",
        "validation.py",
        "kernels.py",
        "counterfactual.py",
    }


def test_no_module_imports_web_or_database_code() -> None:
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        bad = {m for m in _imported_modules(path) if m.split(".")[0] in FORBIDDEN}
        if bad:
            offenders[path.name] = sorted(bad)
    assert offenders == {}


def test_scanner_catches_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from flask import request\n    import portal.db\n")
    found = {m.split(".")[0] for m in _imported_modules(module)}
    assert {"flask", "portal"} <= found


def test_importing_the_package_does_not_load_heavy_libraries() -> None:
    code = (
        "import sys, explainers, explainers.validation\n"
        "heavy = [m for m in ('shap', 'sklearn', 'skops', 'pandas', 'xgboost', 'lightgbm',"
        " 'scipy', 'flask', 'sqlalchemy') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=str(PACKAGE.parent),
    )
    assert out.stdout.strip() == ""
