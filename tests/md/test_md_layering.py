"""md depends only on mlip's core (units, errors, types, validation, neighbor_list, ase_bridge,
atomic_io), never on model code: checked on the source of every md module (the same set as
tests/test_layering.py's MD_MAY_IMPORT, which checks the whole package's layering)."""
import ast
import pathlib

import md

ALLOWED = {"mlip", "mlip.units", "mlip.errors", "mlip.types", "mlip.validation", "mlip.neighbor_list",
           "mlip.ase_bridge", "mlip.atomic_io"}


def test_md_imports_only_the_mlip_core():
    root = pathlib.Path(md.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + ([f"mlip.{a.name}" for a in node.names] if node.module == "mlip" else [])
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "mlip" and n not in ALLOWED]
    assert not offenders, offenders


def test_md_files_stay_small():
    root = pathlib.Path(md.__file__).parent
    long = {p.name: n for p in root.rglob("*.py") if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert not long, long
