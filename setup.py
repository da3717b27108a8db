"""Build and install mlip (pure Python package plus the optional native kernel library).

`pip install -e .[test]` installs the Python packages ``mlip`` and ``md``. The native kernel
library in cuda/ is built by CMake (see CMakeLists.txt and `make ops`), not by this file, so a
CPU-only machine without a compiler can still install and run the pure-torch reference path
(every potential loads with backend "auto" and runs on the reference kernels there).

A non-editable install (`pip install .`) copies into the package what an editable one reads
from the checkout: the shipped potentials (potentials/ -> mlip/_potentials/) and, when `make
ops` has built it, the op library (build/libmlip_ops.so -> mlip/ops/libmlip_ops.so; it is
tied to the torch it was built against and, by default, to this CPU: -march=native).
"""
import re
import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
#: one source for the version: mlip/version.py (read as text: setup.py must not import mlip)
VERSION = re.search(r'__version__ = "([^"]+)"', (ROOT / "mlip" / "version.py").read_text()).group(1)
#: files of a shipped potential that are installed (the rest are training inputs)
SHIPPED_FILES = ("potential.pt", "potential.pt.sha256", "metadata.json", "card.md", "validation.json")


class BuildPyWithData(build_py):
    """build_py that also copies the shipped potentials and a built op library."""

    def run(self):
        super().run()
        target = Path(self.build_lib) / "mlip"
        for folder in sorted((ROOT / "potentials").glob("*/")):
            if not (folder / "potential.pt").is_file():
                continue
            dest = target / "_potentials" / folder.name
            dest.mkdir(parents=True, exist_ok=True)
            for name in SHIPPED_FILES:
                if (folder / name).is_file():
                    shutil.copy2(folder / name, dest / name)
        library = ROOT / "build" / "libmlip_ops.so"
        if library.is_file():
            shutil.copy2(library, target / "ops" / library.name)
        else:
            print("mlip: build/libmlip_ops.so not built (`make ops`): installing without native kernels; "
                  "backend 'auto' will use the pure-torch reference")

setup(
    name="mlip",
    version=VERSION,
    description="E(3)-equivariant machine-learned interatomic potentials and molecular dynamics",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["mlip", "mlip.*", "md", "md.*"]),
    package_data={"mlip": ["py.typed"]},
    install_requires=[
        "torch>=2.13,<=2.14.1",
        "numpy>=1.24",
        "ase>=3.23",
        "matscipy>=1.1",
        "numba>=0.60",
        "mdtraj>=1.10",
        "pyyaml>=6",
        "tqdm>=4.60",
        "matplotlib>=3.7",
    ],
    extras_require={
        "test": ["pytest>=8", "e3nn==0.6.0"],
        # benchmark-only: benchmarks/bench_scatter.py times torch_scatter.scatter / segment_csr /
        # segment_coo against mlip's native scatter_sum (docs/kernels.md, "Segment sums"). The model
        # never imports torch_scatter (plain libtorch, e.g. the LAMMPS plugin, cannot load its ops).
        # torch-scatter ships no wheels for every torch: build it against the installed torch with
        # `pip install --no-build-isolation torch-scatter`.
        "scatter": ["torch-scatter"],
    },
    entry_points={"console_scripts": ["mlip=mlip.cli:main"]},
    cmdclass={"build_py": BuildPyWithData},
)
