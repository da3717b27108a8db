"""A non-editable install (``pip install .``) carries what an editable one reads from the
checkout: the shipped potentials and, when built, the op library (setup.py's build_py)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import mlip
import mlip.shipped as shipped

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def built_package(tmp_path_factory):
    """``setup.py build_py`` into a temporary folder: the tree ``pip install .`` would install."""
    out = tmp_path_factory.mktemp("build_lib")
    proc = subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    yield out
    shutil.rmtree(ROOT / "build" / "bdist.linux-x86_64", ignore_errors=True)


def test_build_carries_shipped_potentials_and_the_op_library(built_package):
    names = shipped.list_shipped()
    assert {"cuau-emt", "ethanol-b3lyp-xtb"} <= set(names)
    for name in names:
        folder = built_package / "mlip" / "_potentials" / name
        assert (folder / "potential.pt").is_file() and (folder / "card.md").is_file(), folder
        assert (folder / "potential.pt").read_bytes() == (ROOT / "potentials" / name / "potential.pt").read_bytes()
    library = ROOT / "build" / "libmlip_ops.so"
    assert (built_package / "mlip" / "ops" / "libmlip_ops.so").is_file() == library.is_file()


def test_installed_copy_is_found_without_the_checkout(built_package, tmp_path):
    """Run from another folder against the built tree alone (no checkout beside it): shipped
    potentials load by name, on the native kernels when the library was carried."""
    code = (
        "import mlip, mlip.shipped, mlip.ops\n"
        "assert not mlip.shipped.POTENTIALS_DIR.is_dir(), mlip.shipped.POTENTIALS_DIR\n"
        "pot = mlip.load_potential('cuau-emt')\n"
        "print(mlip.__file__, pot.backend, mlip.ops.library_path())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MLIP_OPS_LIBRARY"}
    env["PYTHONPATH"] = str(built_package)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    where, backend, library = proc.stdout.split()
    assert where.startswith(str(built_package))
    carried = (ROOT / "build" / "libmlip_ops.so").is_file()
    assert backend == ("native" if carried else "reference")
    if carried:
        assert library.startswith(str(built_package))


def test_shipped_names_are_plain_folder_names():
    assert shipped.find_shipped("../cuau-emt") is None and shipped.find_shipped("") is None
    assert mlip.load_potential("cuau-emt").elements == ("Cu", "Au")
