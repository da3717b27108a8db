"""Training outputs (checkpoint, metrics, config, test report) are replaced atomically through a
unique temporary file, fsync'ed, with the usual permissions, and nothing is left on failure."""
import os

import pytest

import mlip.atomic_io as atomic_io
import mlip.train.checkpoint as checkpoint


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_atomic_write_syncs_before_renaming_uses_unique_names_and_cleans_up(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace, real_mkstemp = os.fsync, os.replace, atomic_io.tempfile.mkstemp

    def mkstemp(**kw):
        fd, name = real_mkstemp(**kw)
        events.append(("tmp", name))
        return fd, name

    # training writes through the one atomic writer, mlip.atomic_io
    monkeypatch.setattr(atomic_io.tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(atomic_io.os, "fsync", lambda fd: (events.append(("fsync",)), real_fsync(fd)))
    monkeypatch.setattr(atomic_io.os, "replace", lambda a, b: (events.append(("replace", a)), real_replace(a, b)))
    path = tmp_path / "metrics.csv"
    checkpoint.write_metrics_csv(path, [{"epoch": 1, "loss": 0.5}])
    checkpoint.write_metrics_csv(path, [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25}])
    names = [e[1] for e in events if e[0] == "tmp"]
    assert len(set(names)) == 2 and all(os.path.dirname(n) == str(tmp_path) for n in names)
    kinds = [e[0] for e in events]
    # each write: a unique temporary file, fsync'ed before the rename (then the folder is synced)
    assert [k for k in kinds if k != "fsync"] == ["tmp", "replace", "tmp", "replace"]
    for k, kind in enumerate(kinds):
        if kind == "replace":
            assert kinds[k - 1] == "fsync"
    assert path.read_text().splitlines() == ["epoch,loss", "1,0.5", "2,0.25"]
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~_umask()

    monkeypatch.setattr(atomic_io.os, "replace", lambda a, b: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        checkpoint.atomic_write_bytes(path, b"new")
    assert path.read_text().splitlines()[-1] == "2,0.25"  # the old file, whole
    assert sorted(os.listdir(tmp_path)) == ["metrics.csv"]  # no temporary file left
