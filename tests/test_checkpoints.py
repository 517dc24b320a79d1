"""Checkpoints: round trip, refusal of other models and of pickled payloads, atomic writes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from aenb.checkpoints import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from aenb.models import MLPAutoencoder
from aenb.paths import atomic_write


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
