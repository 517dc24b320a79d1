"""aenb.notebook: the setup / finish cells every notebook shares."""

from __future__ import annotations

import json
import time

import matplotlib_inline.backend_inline
import pytest
import torch

from aenb.device import seed_everything
from aenb.notebook import Session, finish, setup
from aenb.paths import output_dir, shown


def test_setup_prints_one_line_and_returns_the_session(capsys: pytest.CaptureFixture[str]) -> None:
    session = setup("fast", seed=3)
    assert capsys.readouterr().out == "mode fast, device cpu, seed 3\n"  # conftest sets AENB_DEVICE=cpu
    assert isinstance(session, Session)
    assert session.mode == "fast" and session.fast and session.device == torch.device("cpu") and session.seed == 3
    assert torch.equal(torch.rand(4, generator=session.generator), torch.rand(4, generator=seed_everything(3)))
    first = session.elapsed()
    time.sleep(0.01)
    assert 0 <= first < session.elapsed() and session.started <= time.perf_counter()
    assert not setup("full").fast


def test_setup_refuses_an_unknown_mode() -> None:
    with pytest.raises(ValueError) as info:
        setup("quick")
    assert str(info.value) == "mode must be one of ('full', 'fast') (see aenb.paths.get_mode), got 'quick'"


def test_finish_writes_the_results_file_with_mode_device_and_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    session = setup("fast")
    session.started -= 12.34  # as if the notebook had run for 12 s
    path = finish(session, "99_demo", {"test_mse": 0.0333})
    assert path == output_dir("results", "fast") / "99_demo.json"
    record = json.loads(path.read_text())
    assert record["test_mse"] == 0.0333 and record["mode"] == "fast" and record["device"] == "cpu"
    assert 12.3 <= record["seconds"] < 20
    assert capsys.readouterr().out.splitlines()[-1] == f"wrote {shown(path)} ({record['seconds']:.1f} s)"


def test_no_figure_settings_outside_ipython(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(matplotlib_inline.backend_inline, "set_matplotlib_formats", lambda *f: calls.append(f))
    setup("fast")
    assert calls == []


def test_setup_shows_figures_as_compact_pngs_under_ipython(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """In a real IPython shell, figures are then printed as palette PNGs at their own dpi, not retina ones."""
    import base64
    import io

    import matplotlib.pyplot as plt
    from IPython.core.interactiveshell import InteractiveShell
    from matplotlib.figure import Figure
    from PIL import Image
    from traitlets.config import Config

    monkeypatch.setenv("IPYTHONDIR", str(tmp_path))
    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    try:
        setup("fast")
        printer = shell.display_formatter.formatters["image/png"].type_printers[Figure]
        fig = plt.figure(figsize=(3, 2), dpi=100)
        fig.add_subplot().plot([0, 1], [0, 1])
        image = Image.open(io.BytesIO(base64.b64decode(printer(fig))))
        plt.close(fig)
        assert image.mode == "P" and image.width <= 300 and image.height <= 200
    finally:
        InteractiveShell.clear_instance()
    from IPython import get_ipython

    assert get_ipython() is None  # the next test sees a plain Python process again
