"""Build and install mlip (pure Python package plus the optional native kernel library).

`pip install -e .[test]` installs the Python packages ``mlip`` and ``md``. The native kernel
library in cuda/ is built by CMake (see CMakeLists.txt and `make ops`), not by this file, so a
CPU-only machine without a compiler can still install and run the pure-torch reference path.
"""
from setuptools import find_packages, setup

setup(
    name="mlip",
    version="0.1.0",
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
        "scatter": ["torch-scatter"],
    },
    entry_points={"console_scripts": ["mlip=mlip.cli:main"]},
)
