"""The layers of ARCHITECTURE.md, checked: a module imports only from its own
layer's allowances (parsed, not imported, so lazy imports inside functions count)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "clicksynth"

FOUNDATION = {
    "exceptions",
    "seeding",
    "_frame",
    "_heartbeat",
    "_progress",
    "column_names",
    "schema",
    "io",
    "split",
    "datasets",
    "prep",
    "_knn",
    "space",
}
# What each top-level part may import besides itself (foundation modules: only foundation).
ALLOWED = {
    **dict.fromkeys(FOUNDATION, FOUNDATION),
    "generators": FOUNDATION,
    "metrics": FOUNDATION,
    "rebalance": FOUNDATION | {"generators"},
    "bulk": FOUNDATION | {"generators"},
    "report": FOUNDATION | {"bench", "metrics"},
    "bench": FOUNDATION | {"generators", "metrics", "rebalance"},
    "testing": FOUNDATION | {"generators", "metrics"},
    "pipeline": FOUNDATION | {"generators", "metrics", "rebalance", "bench", "report"},
    "cli": FOUNDATION | {"generators", "metrics", "rebalance", "bulk", "bench", "report", "pipeline"},
    "__init__": FOUNDATION | {"generators"},
}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found |= {_part(n) for n in names if n.startswith("clicksynth.")}
    return found


def test_layers():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        part = _part(".".join(rel.parts).removesuffix(".__init__")) if len(rel.parts) > 1 else "__init__"
        for target in _imports(path) - {part}:
            if target not in ALLOWED[part]:
                wrong.append(f"{rel}: {part} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_import_clicksynth_loads_no_torch_or_xgboost():
    import subprocess
    import sys

    code = "import sys, clicksynth; print(sorted(m for m in ('torch', 'xgboost', 'sklearn') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
