"""Checkpoints: round trip, refusal of other models, pickled payloads and tampered files, atomic writes."""

from __future__ import annotations

import os
import time
import zipfile
from pathlib import Path

import pytest
import torch

from aenb.checkpoints import MAX_CHECKPOINT_BYTES, CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from aenb.models import MLPAutoencoder, OriginalDenoiser
from aenb.paths import STALE_SECONDS, atomic_write
from aenb.pretrained import ORIGINAL_DENOISER_WEIGHTS


def test_round_trip_rebuilds_the_same_model(tmp_path: Path, mnist_test_small) -> None:
    model = MLPAutoencoder((784, 32, 3), "tanh")
    path = save_checkpoint(model, tmp_path / "ae.pt", metadata={"test_mse": 0.05, "mode": "fast"})
    loaded, meta = load_checkpoint(path, MLPAutoencoder, sizes=[784, 32, 3])
    assert meta == {"test_mse": 0.05, "mode": "fast"}
    assert loaded.config == model.config and not loaded.training
    x = mnist_test_small.images[:16]
    with torch.no_grad():
        assert torch.equal(loaded(x), model.eval()(x))
    assert [p.name for p in tmp_path.iterdir()] == ["ae.pt"]  # no temporary file left behind


def test_other_architecture_or_latent_size_is_refused(tmp_path: Path) -> None:
    path = save_checkpoint(MLPAutoencoder((784, 32, 2)), tmp_path / "z2.pt")
    with pytest.raises(CheckpointError, match=r"sizes: checkpoint has \[784, 32, 2\], expected \[784, 32, 3\]"):
        load_checkpoint(path, MLPAutoencoder, sizes=(784, 32, 3))

    class OtherModel(torch.nn.Module):
        pass

    with pytest.raises(CheckpointError, match="holds a MLPAutoencoder, not a OtherModel"):
        load_checkpoint(path, OtherModel)


class _Payload:
    """Unpickling this object would create a file: the classic malicious checkpoint."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (Path.touch, (self.target,))


def test_pickled_payload_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    model = MLPAutoencoder((784, 8, 2))
    payload = {
        "format": "aenb-checkpoint-v1",
        "class": "MLPAutoencoder",
        "config": model.config,
        "state_dict": model.state_dict(),
        "metadata": {"evil": _Payload(marker)},
    }
    path = tmp_path / "evil.pt"
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="refused to load .*could run code"):
        load_checkpoint(path, MLPAutoencoder)
    assert not marker.exists()
    # Sanity check that the payload is real: unsafe unpickling would create the file.
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_missing_truncated_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        read_checkpoint(tmp_path / "nope.pt")
    good = save_checkpoint(MLPAutoencoder((784, 8, 2)), tmp_path / "good.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="cannot read"):
        read_checkpoint(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="not an aenb checkpoint"):
        read_checkpoint(foreign)


def test_failed_write_keeps_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "ckpt.pt"
    target.write_bytes(b"previous")

    def crash_half_way(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt  # Ctrl-C in the middle of a save

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, crash_half_way)
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]


def test_model_without_config_cannot_be_saved(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="no `config` dict"):
        save_checkpoint(torch.nn.Linear(2, 2), tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


def _tampered(tmp_path: Path, change) -> Path:
    """A real checkpoint, loaded, edited by ``change(payload)`` and saved again as a hand-edited file would be."""
    good = save_checkpoint(MLPAutoencoder((784, 32, 3)), tmp_path / "good.pt")
    payload = torch.load(good, weights_only=True)
    change(payload)
    path = tmp_path / "tampered.pt"
    torch.save(payload, path)
    return path


@pytest.mark.parametrize("key", ["class", "config", "state_dict", "metadata"])
def test_tampered_file_missing_an_entry_names_it_and_the_file(tmp_path: Path, key: str) -> None:
    path = _tampered(tmp_path, lambda payload: payload.pop(key))
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, MLPAutoencoder)
    assert str(info.value) == f"{path} has no {key!r} entry: the file was altered or not written by save_checkpoint"


def test_tampered_sizes_are_checked_against_the_weights_before_building(tmp_path: Path) -> None:
    """sizes=[784, 10**9, 3] would allocate 6 TB of weights; the shapes are compared on the meta device first."""
    path = _tampered(tmp_path, lambda payload: payload["config"].update(sizes=[784, 10**9, 3]))
    started = time.perf_counter()
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, MLPAutoencoder)
    assert time.perf_counter() - started < 5
    assert str(info.value).startswith(
        f"{path}: the weights do not fit MLPAutoencoder(**{{'sizes': [784, 1000000000, 3], 'activation': 'tanh', "
        "'code_activation': False}): encoder.0.weight is (32, 784) in the file, (1000000000, 784) for this config; ")
    assert str(info.value).endswith("; and 2 more")


def test_tampered_weights_or_config_are_refused(tmp_path: Path) -> None:
    dropped = _tampered(tmp_path, lambda payload: payload["state_dict"].pop("decoder.2.bias"))
    with pytest.raises(CheckpointError, match=r"the weights do not fit MLPAutoencoder\(.*\): missing decoder.2.bias$"):
        load_checkpoint(dropped, MLPAutoencoder)
    bogus = _tampered(tmp_path, lambda payload: payload["config"].update(width=3))
    with pytest.raises(CheckpointError, match=r"cannot build MLPAutoencoder\(.*\): TypeError: .*unexpected keyword "
                                              r"argument 'width'"):
        load_checkpoint(bogus, MLPAutoencoder)
    wrong_type = _tampered(tmp_path, lambda payload: payload.update(metadata=[1, 2]))
    with pytest.raises(CheckpointError, match=r"tampered.pt: 'metadata' should be a dict, found list$"):
        load_checkpoint(wrong_type, MLPAutoencoder)


def test_next_save_removes_stale_temporaries_of_killed_writes(tmp_path: Path) -> None:
    """A process killed during a save leaves ``.<name>.<random>.tmp``; the next save in the folder removes it."""
    stale = tmp_path / ".ae.pt.k3x_9q0z.tmp"   # the name atomic_write's mkstemp gives
    live = tmp_path / ".ae.pt.a1b2c3d4.tmp"    # another process writing right now
    other = tmp_path / ".notes.tmp"            # not ours: never touched
    for path in (stale, live, other):
        path.write_bytes(b"half a checkpoint")
    old = time.time() - STALE_SECONDS - 60
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    save_checkpoint(MLPAutoencoder((784, 8, 2)), tmp_path / "other.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ae.pt.a1b2c3d4.tmp", ".notes.tmp", "other.pt"]


def test_save_that_fails_half_way_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch) -> None:
    path = save_checkpoint(MLPAutoencoder((784, 8, 2)), tmp_path / "ae.pt", metadata={"epoch": 1})
    real_save = torch.save

    def disk_full(obj, f) -> None:
        real_save(obj, f)
        Path(f).write_bytes(Path(f).read_bytes()[:100])  # what a full disk leaves
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="No space left on device"):
        save_checkpoint(MLPAutoencoder((784, 8, 2)), path, metadata={"epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(path, MLPAutoencoder)[1] == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["ae.pt"]


def _inflating_copy(good: Path, path: Path, declared: int) -> Path:
    """``good`` with its first tensor record replaced by ``declared`` bytes of zeros, deflate-compressed.

    The result is a valid zip (zipfile wrote it, CRC and zip64 sizes included) of about declared / 1000
    bytes that ``torch.load`` would inflate. The zeros go through the compressor 16 MiB at a time, so
    building it needs little memory.
    """
    chunk = bytes(16 * 2**20)
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(path, "w", compresslevel=1) as target:
        for record in source.infolist():
            if not record.filename.endswith("/data/0"):
                target.writestr(record, source.read(record))
                continue
            inflating = zipfile.ZipInfo(record.filename, date_time=record.date_time)
            inflating.compress_type = zipfile.ZIP_DEFLATED
            with target.open(inflating, "w", force_zip64=True) as out:
                for _ in range(declared // len(chunk)):
                    out.write(chunk)
    return path


def test_a_small_file_declaring_gigabytes_is_refused_before_anything_is_read(tmp_path: Path, monkeypatch) -> None:
    good = save_checkpoint(MLPAutoencoder((784, 8, 2)), tmp_path / "good.pt")
    bomb = _inflating_copy(good, tmp_path / "bomb.pt", declared=2**30)  # 4 GiB would work alike, 4 times slower
    size = bomb.stat().st_size
    with zipfile.ZipFile(bomb) as archive:  # it is what it claims: 1 GiB of zeros in about 1 MB
        record = next(r for r in archive.infolist() if r.filename.endswith("/data/0"))
        assert record.file_size == 2**30 and size < 2 * 2**20
        with archive.open(record) as stream:
            assert stream.read(2**20) == bytes(2**20)

    def must_not_run(*args, **kwargs):
        raise AssertionError("torch.load was reached: the file's sizes were not checked first")

    monkeypatch.setattr(torch, "load", must_not_run)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(bomb, MLPAutoencoder)
    declared = sum(r.file_size for r in zipfile.ZipFile(bomb).infolist())
    assert str(info.value) == (
        f"refused to read {bomb}: its zip records declare {declared:,} bytes uncompressed in a {size:,}-byte file "
        f"(the largest, {record.filename!r}, {record.file_size:,} bytes stored in {record.compress_size:,}); "
        "torch.save stores records uncompressed, so they cannot exceed the file: this one was crafted or damaged, "
        "and loading it would allocate that memory")
    monkeypatch.undo()
    assert load_checkpoint(good, MLPAutoencoder)[0].config["sizes"] == [784, 8, 2]


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    huge = tmp_path / "huge.pt"
    with open(huge, "wb") as fh:  # a sparse file: no disk used, nothing written
        fh.truncate(MAX_CHECKPOINT_BYTES + 1)
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(huge)
    assert str(info.value) == (
        f"refused to read {huge}: it is {MAX_CHECKPOINT_BYTES + 1:,} bytes, more than the {MAX_CHECKPOINT_BYTES:,} "
        "a checkpoint may have (MAX_CHECKPOINT_BYTES; the series' models take a few MB)")


def test_real_checkpoints_pass_the_size_checks(tmp_path: Path) -> None:
    """Every record torch.save writes is stored uncompressed: the published weights and a fresh save both load."""
    model, meta = load_checkpoint(ORIGINAL_DENOISER_WEIGHTS, OriginalDenoiser)
    assert meta["epochs"] == 10
    path = save_checkpoint(model, tmp_path / "copy.pt")
    with zipfile.ZipFile(path) as archive:
        assert {r.compress_type for r in archive.infolist()} == {zipfile.ZIP_STORED}
    again, _ = load_checkpoint(path, OriginalDenoiser)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
