"""Dependencies point one way: the engine (jobs) imports no other app of ours; the apps built on it
import the engine and `common`, never each other, except ops, which reads them all. `config`
wires everything together and is not checked."""
from __future__ import annotations

import ast

import pytest

from .support import ROOT

OURS = {"common", "jobs", "notifications", "reports", "schedules", "ops", "diagnostics", "config"}
ALLOWED = {
    "common": set(),
    "jobs": {"common"},
    "notifications": {"jobs", "common"},
    "reports": {"jobs", "common"},
    "schedules": {"jobs", "common"},
    "diagnostics": {"jobs", "common"},
    "ops": {"jobs", "notifications", "common"},
}


def imported_packages(path) -> set[str]:
    """Our top-level packages that a module imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & OURS


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_what_lies_below_it(package):
    wrong = {
        str(path.relative_to(ROOT)): sorted(imported - ALLOWED[package] - {package})
        for path in (ROOT / package).rglob("*.py")
        if (imported := imported_packages(path)) - ALLOWED[package] - {package}
    }
    assert not wrong, f"{package} may import only {sorted(ALLOWED[package])}: {wrong}"


def test_the_check_sees_a_forbidden_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from notifications.webhooks import x\nimport jobs.models\n")
    assert imported_packages(module) == {"notifications", "jobs"}
