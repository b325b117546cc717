"""The package's import rules: one direction (layers), stand-alone stages, no cycles
(``[tool.importlinter]`` in pyproject.toml, checked by ``lint-imports``), and no private name
imported from another module."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"


def _env() -> dict[str, str]:
    """This checkout's ``src`` first, so that the source analysed is this one (the virtualenv
    may hold an editable install of another checkout)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [env.get("PYTHONPATH")])])
    return env


def test_lint_imports_keeps_every_contract():
    env = _env()
    where = subprocess.run([sys.executable, "-c", "import aopflow; print(aopflow.__file__)"], env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).resolve().is_relative_to(SRC), f"lint-imports would analyse {where}, not {SRC}"
    lint = Path(sys.executable).parent / "lint-imports"
    assert lint.exists(), f"{lint} is missing: install the test extra (pip install -e '.[test]')"
    res = subprocess.run([str(lint), "--no-cache", "--no-logo", str(ROOT / "pyproject.toml")], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=300)
    report = res.stdout + res.stderr
    assert res.returncode == 0, f"lint-imports failed (exit {res.returncode}):\n{report}"
    assert "0 broken" in report and "kept" in report, report


def _private_imports(path: Path, root: Path = ROOT) -> list[str]:
    """``from aopflow.x import _name`` and ``x._name`` on an imported aopflow module in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    modules: set[str] = set()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("aopflow"):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{path.relative_to(root)}:{node.lineno}: from {node.module} import {alias.name}")
                modules.add(alias.asname or alias.name)  # may be a submodule
        elif isinstance(node, ast.Import):
            modules.update(a.asname or a.name.split(".")[0] for a in node.names if a.name.startswith("aopflow"))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and isinstance(node.value, (ast.Name, ast.Attribute))
                and ast.unparse(node.value).split(".")[0] in modules):
            found.append(f"{path.relative_to(root)}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_private_name_is_imported_from_another_module():
    files = sorted((SRC / "aopflow").rglob("*.py")) + sorted((ROOT / "scripts").glob("*.py"))
    assert len(files) > 50
    found = [hit for path in files for hit in _private_imports(path)]
    assert not found, "private names used outside their module (make them public or move the caller):\n" + "\n".join(found)


def test_the_private_name_check_finds_both_forms(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from aopflow.raster import _x, y\nimport aopflow.raster as r\nfrom aopflow import spectral\n"
                     "import numpy as np\nr._z\nspectral.checks._w\nself._ok\nnp._private\n")
    hits = _private_imports(probe, tmp_path)
    assert [h.split(": ", 1)[1] for h in hits] == [
        "from aopflow.raster import _x", "r._z", "spectral.checks._w"], hits
