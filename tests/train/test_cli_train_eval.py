"""`mlip train` and `mlip eval` end to end through the real command line."""
import subprocess
import sys

import pytest
import yaml

from emt_fixtures import tiny_config


def _mlip(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mlip.cli", *map(str, args)], capture_output=True, text=True, timeout=600, cwd=cwd)


@pytest.mark.slow  # ~35 s: trains through the CLI, then evaluates and plots
def test_train_then_eval_writes_table_and_parity_plot(emt_file, tmp_path):
    cfg = tiny_config(emt_file, tmp_path / "run", epochs=2)
    cfg["training"]["progress"] = True
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = _mlip("train", path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "epoch    2" in out.stdout and "best potential" in out.stdout
    plot = tmp_path / "parity.png"
    out = _mlip("eval", tmp_path / "run" / "best.pt", emt_file, "--plot", plot)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "forces" in out.stdout and "meV/Å" in out.stdout
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    n_all = int(out.stdout.split(": ", 1)[1].split(" frames")[0])
    out = _mlip("eval", tmp_path / "run" / "best.pt", emt_file, "--index", "2:")
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"[2:]: {n_all - 2} frames" in out.stdout


@pytest.mark.slow  # ~5 s: several CLI subprocesses
def test_cli_reports_config_errors_in_one_line(emt_file, tmp_path):
    cfg = tiny_config(emt_file, tmp_path / "run")
    cfg["training"]["epoch"] = 3
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = _mlip("train", path)
    assert out.returncode == 2
    assert out.stderr.startswith("mlip: error: training: unknown key(s) ['epoch']")
    assert "Traceback" not in out.stderr
