"""md's files (checkpoints, drift.json, plots, rewritten trajectories) are replaced atomically
through a unique temporary file in the same folder: fsync'ed before the rename, removed on
failure, never shared by two writers, and created with the usual permissions."""
import os
import threading

import pytest
import torch

import md
import mlip.atomic_io as atomic_io
from md.checkpoint import atomic_save, read_checkpoint
from md_systems import argon_liquid, argon_lj


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _leftovers(folder, keep):
    return sorted(set(os.listdir(folder)) - set(keep))


def test_checkpoint_is_fsynced_before_the_rename_and_gets_the_usual_permissions(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else fd))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", str(src), str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(atomic_io.os, "fsync", fsync)
    monkeypatch.setattr(atomic_io.os, "replace", replace)
    path = tmp_path / "checkpoint.pt"
    atomic_save({"step": 3}, str(path))
    replaced = [e for e in events if e[0] == "replace"]
    assert len(replaced) == 1 and replaced[0][2] == str(path)
    tmp = replaced[0][1]
    assert os.path.dirname(tmp) == str(tmp_path) and os.path.basename(tmp) != "checkpoint.pt"
    first_sync = next(i for i, e in enumerate(events) if e[0] == "fsync")
    assert first_sync < events.index(replaced[0])
    if os.path.exists("/proc/self/fd"):
        assert events[first_sync][1] == tmp  # the temporary file itself was synced
    assert torch.load(path, weights_only=True) == {"step": 3}
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~_umask()
    assert _leftovers(tmp_path, ["checkpoint.pt"]) == []


def test_a_failed_save_keeps_the_old_checkpoint_and_removes_its_temporary_file(tmp_path):
    path = tmp_path / "checkpoint.pt"
    atomic_save({"step": 1}, str(path))

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("cannot pickle this")

    with pytest.raises(RuntimeError, match="cannot pickle"):
        atomic_save({"step": 2, "bad": Unpicklable()}, str(path))
    assert torch.load(path, weights_only=True) == {"step": 1}
    assert _leftovers(tmp_path, ["checkpoint.pt"]) == []

    with pytest.raises(ValueError, match="boom"):
        with atomic_io.atomic_path(str(tmp_path / "traj.xtc"), suffix=".xtc") as tmp:
            assert tmp.endswith(".xtc") and os.path.exists(tmp)
            raise ValueError("boom")
    assert _leftovers(tmp_path, ["checkpoint.pt"]) == []


def test_two_writers_of_one_folder_use_different_temporary_files(tmp_path):
    path = str(tmp_path / "checkpoint.pt")
    with atomic_io.atomic_path(path) as first:
        with atomic_io.atomic_path(path) as second:
            assert first != second and os.path.dirname(first) == os.path.dirname(second) == str(tmp_path)
            torch.save({"writer": 2}, second)  # both in flight at once
        torch.save({"writer": 1}, first)
    assert torch.load(path, weights_only=True) == {"writer": 1}  # the last rename wins, whole
    with atomic_io.atomic_open(path, "wb") as a, atomic_io.atomic_open(path, "wb") as b:
        assert os.fstat(a.fileno()).st_ino != os.fstat(b.fileno()).st_ino
        torch.save({"writer": 3}, a)
        torch.save({"writer": 4}, b)
    assert torch.load(path, weights_only=True) == {"writer": 3}  # a closes last
    assert _leftovers(tmp_path, ["checkpoint.pt"]) == []


def test_concurrent_checkpoint_writers_never_clobber_each_other(tmp_path):
    path = str(tmp_path / "checkpoint.pt")
    payloads = {k: {"writer": k, "data": torch.full((2000,), float(k))} for k in range(4)}
    errors = []

    def write(k):
        try:
            for _ in range(15):
                atomic_save(payloads[k], path)
                data = torch.load(path, weights_only=True)  # always one whole checkpoint
                assert torch.equal(data["data"], torch.full((2000,), float(data["writer"])))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(k,)) for k in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert _leftovers(tmp_path, ["checkpoint.pt"]) == []


def test_a_run_leaves_only_its_outputs(tmp_path):
    liquid, lj = argon_liquid(repeat=1, seed=8), argon_lj(7.0)
    state = md.initial_state(liquid, lj, temperature_K=50.0)
    monitor = md.EnergyMonitor(sample_interval=1, order=4, json_path=str(tmp_path / "drift.json"))
    md.run(state, lj, md.VelocityVerlet(5.0), 6, [monitor, md.CheckpointReporter(str(tmp_path / "c.pt"), 2)])
    assert sorted(os.listdir(tmp_path)) == ["c.pt", "drift.json"]
    assert read_checkpoint(str(tmp_path / "c.pt"))["state"]["step"] == 6
    mode = 0o666 & ~_umask()
    assert all(os.stat(tmp_path / n).st_mode & 0o777 == mode for n in ("c.pt", "drift.json"))
