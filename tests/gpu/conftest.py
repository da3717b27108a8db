"""The ``device`` fixture of the GPU tests (gpu_support.py): "cpu" (rehearsal) and "cuda"."""
from gpu_support import device  # noqa: F401
