"""Imports point down the layers of docs/architecture.md (module-level and function-level ones).

Every module of mlip/ and md/ is parsed with ``ast``; each ``import``/``from`` statement, wherever
it sits (inside functions, ``if TYPE_CHECKING``, try blocks), must name its own unit or a unit of
a lower layer. md/ may use only the core modules in :data:`MD_MAY_IMPORT` (plus its force-field
protocol, which lives in md/ itself), never model code.
"""
import ast
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mlip", "md")

#: Bottom to top, as drawn in docs/architecture.md. A module belongs to the unit with the
#: longest matching dotted prefix ("mlip" itself, the package facade, matches only exactly);
#: a unit may import itself and the units of lower layers, not its neighbours in the same layer.
LAYERS: List[Tuple[str, Tuple[str, ...]]] = [
    ("foundation", ("mlip.errors", "mlip.units", "mlip.version", "mlip.shipped", "mlip.allocator", "mlip.atomic_io")),
    ("types", ("mlip.types",)),
    ("checks and ASE conversion", ("mlip.validation", "mlip.ase_bridge")),
    ("kernels", ("mlip.ops",)),
    ("backend choice", ("mlip.neighbor_list", "mlip.backends")),
    ("symmetry", ("mlip.o3",)),
    ("network layers", ("mlip.nn",)),
    ("physics terms", ("mlip.physics",)),
    ("models", ("mlip.models",)),
    ("data", ("mlip.data",)),
    ("baselines", ("mlip.baselines",)),
    ("layer-by-layer evaluation", ("mlip.layered",)),
    ("memory-bounded inference", ("mlip.chunked_evaluation",)),
    ("potential file format", ("mlip.potential_format",)),
    ("potential files", ("mlip.potential",)),
    ("applications", ("mlip.calculator", "mlip.train", "mlip.export", "mlip.vibrations", "mlip.uncertainty")),
    ("molecular dynamics", ("md",)),
    ("active learning", ("mlip.learn",)),
    ("entry points", ("mlip.cli", "mlip.demo", "mlip")),
]

#: What md/ may import from mlip (plus the standard library, torch, numpy, ASE, ...).
MD_MAY_IMPORT = {"mlip.types", "mlip.units", "mlip.errors", "mlip.validation", "mlip.neighbor_list", "mlip.ase_bridge",
                 "mlip.atomic_io"}

LAYER_OF: Dict[str, int] = {unit: k for k, (_, units) in enumerate(LAYERS) for unit in units}


def unit_of(module: str) -> Optional[str]:
    """The unit ``module`` belongs to, or None when no layer declares it."""
    for unit in sorted(LAYER_OF, key=len, reverse=True):
        if module == unit or (unit != "mlip" and module.startswith(unit + ".")):
            return unit
    return None


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(dotted: str) -> bool:
    base = ROOT.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def modules() -> Iterator[Tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield _module_name(path), path


def imports(module: str, path: Path) -> Iterator[Tuple[int, str]]:
    """(line, imported module) for every import statement of the file, at any depth."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module
            # ``from pkg import submodule`` imports the submodule, ``from pkg import name`` pkg
            targets = {f"{base}.{a.name}" if _is_module(f"{base}.{a.name}") else base for a in node.names}
            for target in sorted(targets):
                yield node.lineno, target


def project_imports() -> Iterator[Tuple[str, Path, int, str]]:
    for module, path in modules():
        for line, target in imports(module, path):
            if target.split(".")[0] in PACKAGES:
                yield module, path, line, target


def test_every_module_has_a_layer():
    unplaced = sorted({m for m, _ in modules() if unit_of(m) is None})
    assert not unplaced, f"modules in no layer (add them to LAYERS and docs/architecture.md): {unplaced}"


def test_imports_point_down():
    upward = []
    for module, path, line, target in project_imports():
        src, dst = unit_of(module), unit_of(target)
        if src is None or dst is None or src == dst:
            continue
        if LAYER_OF[dst] >= LAYER_OF[src]:
            where = "the same layer" if LAYER_OF[dst] == LAYER_OF[src] else "a higher layer"
            upward.append(f"{path.relative_to(ROOT)}:{line}: {module} imports {target} ({dst}: {where})")
    assert not upward, "imports that do not point down:\n" + "\n".join(upward)


def test_md_imports_no_model_code():
    wrong = [
        f"{path.relative_to(ROOT)}:{line}: {target}"
        for module, path, line, target in project_imports()
        if unit_of(module) == "md" and unit_of(target) != "md" and unit_of(target) not in MD_MAY_IMPORT
    ]
    assert not wrong, f"md/ imports beyond {sorted(MD_MAY_IMPORT)}:\n" + "\n".join(wrong)


def test_architecture_doc_names_every_unit():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    layers = doc.split("## Layers", 1)[-1].split("\n## ", 1)[0]
    missing = [u for _, units in LAYERS for u in units if u != "mlip" and u not in layers]
    assert not missing, f"docs/architecture.md's layer diagram does not name {missing}"


@pytest.mark.parametrize(
    "module,target,ok",
    [("mlip.models.equivariant", "mlip.physics.coulomb", True), ("mlip.baselines.frozen_potential", "mlip.potential", False),
     ("mlip.ops", "mlip.neighbor_list", False), ("mlip.nn.interaction", "mlip.ops.tensor_product", True),
     ("mlip.calculator", "mlip.train", False)],
)
def test_the_rule_itself(module, target, ok):
    src, dst = unit_of(module), unit_of(target)
    assert (src == dst or LAYER_OF[dst] < LAYER_OF[src]) is ok
