"""Helpers for the real-browser end-to-end test (``tests/test_e2e_browser.py``).

They start a private JupyterLab server, hand it a kernel that is already running (nbval's,
after its run of the notebook), drive headless Chromium through Playwright and compare
screenshots. Everything here is plain functions and context managers so the test itself reads
as the reader's story: open the notebook, run its explorer cell, move a slider, look.

Nothing here touches the repository: the server serves a temporary copy of the notebooks
and keeps its settings, workspaces and runtime files in a temporary folder.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import psutil  # a dependency of ipykernel, so always present next to JupyterLab
from PIL import Image
from playwright.sync_api import Browser, Locator, Page, Playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

#: Debian's Chromium; Playwright's own browser downloads are not available offline.
CHROMIUM = Path("/usr/bin/chromium")

#: Flags that keep headless Chromium from reaching for the network or a GPU.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]

#: What a reader sees instead of a widget that cannot be displayed: the widget manager's
#: error for a model the front end never got, or, with no widget manager at all, the text
#: fallback of the widget (``interactive(children=(FloatSlider(...``, ``VBox(children=...``).
WIDGET_ERROR_PATTERNS = (
    re.compile(r"Error displaying widget"),
    re.compile(r"model not found"),
    re.compile(r"\b\w+\(children=\("),  # covers "interactive(children=("
)

#: JupyterLab user settings written before the server starts: no news / update checks
#: (there is no network, and the toast would cover part of the page).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


# --------------------------------------------------------------------------- the server


@dataclass
class LabServer:
    """A running JupyterLab: where it listens, its token, its process and its log file."""

    url: str
    token: str
    process: subprocess.Popen[bytes]
    log_path: Path
    root_dir: Path
    external_kernels: Path


    def lab_url(self, path: str = "") -> str:
        """URL of the JupyterLab page (``/lab`` or ``/lab/tree/<path>``) with the token."""
        page = f"lab/tree/{path}" if path else "lab"
        return f"{self.url}{page}?reset&token={self.token}"

    def kernel_ids(self) -> set[str]:
        """Ids of the kernels the server knows; listing them also makes it read :attr:`external_kernels`."""
        request = urllib.request.Request(f"{self.url}api/kernels", headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return {kernel["id"] for kernel in json.load(response)}

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server log, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError as exc:
            return f"(no server log: {exc})"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_lab_settings(settings_dir: Path) -> None:
    """Write :data:`LAB_SETTINGS` as JupyterLab user settings under ``settings_dir``."""
    for rel_path, values in LAB_SETTINGS.items():
        path = settings_dir / rel_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=2))


def _wait_until_serving(server: LabServer, timeout_s: float) -> None:
    """Poll ``/api/status`` until the server answers 200; fail early if it exits."""
    deadline = time.monotonic() + timeout_s
    status_url = f"{server.url}api/status?token={server.token}"
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"JupyterLab exited with code {server.process.returncode} before serving.\n"
                f"--- server log ---\n{server.log_tail()}"
            )
        try:
            with urllib.request.urlopen(status_url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last_error = str(exc)
        time.sleep(0.25)  # polling interval of a wait-for-condition, bounded by the deadline
    raise TimeoutError(
        f"JupyterLab did not answer on {status_url} within {timeout_s:.0f} s ({last_error}).\n"
        f"--- server log ---\n{server.log_tail()}"
    )


def _stop(server: LabServer, grace_s: float = 10.0) -> None:
    """Shut the server and its kernels down, then kill whatever is left.

    Kernels run in their own sessions (jupyter_client starts them with ``setsid``), so a
    signal to the server's process group alone would not reach them: the descendants are
    listed first and killed individually if the polite ``/api/shutdown`` leaves them alive.
    The group is killed only while its leader is unreaped, so its id cannot have been reused.
    """
    try:
        descendants = psutil.Process(server.process.pid).children(recursive=True)
    except psutil.Error:
        descendants = []
    if server.process.poll() is None:
        request = urllib.request.Request(
            f"{server.url}api/shutdown", method="POST",
            headers={"Authorization": f"token {server.token}"},
        )
        with contextlib.suppress(urllib.error.URLError, OSError):
            urllib.request.urlopen(request, timeout=5).close()
        try:
            server.process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=grace_s)
    _, alive = psutil.wait_procs(descendants, timeout=grace_s)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=grace_s)


@contextlib.contextmanager
def jupyterlab(root_dir: Path, state_dir: Path, env: dict[str, str] | None = None,
               start_timeout_s: float = 60.0) -> Iterator[LabServer]:
    """Run JupyterLab from this Python environment for the duration of a ``with`` block.

    * serves ``root_dir`` (pass a temporary copy: the browser saves notebooks it runs),
    * listens on a free port of 127.0.0.1 only, with a random token, and opens no browser,
    * keeps config, runtime, settings and workspaces under ``state_dir`` so neither the
      user's JupyterLab setup nor a previous run can change what the test sees,
    * exposes the application object as ``window.jupyterapp`` so the test can run
      JupyterLab commands (the same ones the menus run),
    * passes ``env`` (on top of ``os.environ``) to the server and hence to its kernels,
    * accepts kernels started elsewhere: a connection file written into ``state_dir/external_kernels``
      makes that kernel one of the server's (jupyter_server's ``allow_external_kernels``), which
      :func:`attach_kernel` uses to hand nbval's finished kernel to JupyterLab.

    The server and its kernels are stopped however the block ends.
    """
    port = free_port()
    token = secrets.token_hex(16)
    dirs = {name: state_dir / name
            for name in ("config", "data", "runtime", "settings", "workspaces", "external_kernels")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    _write_lab_settings(dirs["settings"])
    server_env = {
        **os.environ,
        **(env or {}),
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_DATA_DIR": str(dirs["data"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
        "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
    }
    command = [
        sys.executable, "-m", "jupyter", "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root_dir}",
        f"--IdentityProvider.token={token}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",  # no PyPI look-ups from the extension manager
        "--ServerApp.allow_external_kernels=True",
        f"--ServerApp.external_connection_dir={dirs['external_kernels']}",
    ]
    if os.geteuid() == 0:  # CI containers run as root; the server refuses that unless told
        command.append("--allow-root")
    log_path = state_dir / "jupyterlab.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=root_dir, env=server_env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,  # its own group, to kill it whole
        )
    server = LabServer(f"http://127.0.0.1:{port}/", token, process, log_path, root_dir, dirs["external_kernels"])
    try:
        _wait_until_serving(server, start_timeout_s)
        yield server
    finally:
        _stop(server)


def attach_kernel(server: LabServer, connection_file: str | os.PathLike) -> str:
    """Make a running kernel (its connection file) one of the server's kernels; returns its id there.

    The copy names the kernel ``python3``, the kernelspec JupyterLab knows, whatever name the
    kernel was started under (nbval's is ``:nbval-parent-env``, the same Python environment).
    """
    info = json.loads(Path(connection_file).read_text())
    info["kernel_name"] = "python3"
    before = server.kernel_ids()
    (server.external_kernels / Path(connection_file).name).write_text(json.dumps(info))
    new = server.kernel_ids() - before
    if len(new) != 1:
        raise RuntimeError(f"JupyterLab did not pick up the kernel of {connection_file} (new kernels: {new})")
    return new.pop()


def detach_kernels(server: LabServer) -> None:
    """Forget every kernel :func:`attach_kernel` gave the server (the kernels keep running)."""
    for path in server.external_kernels.iterdir():
        path.unlink()
    server.kernel_ids()


# --------------------------------------------------------------------------- the browser


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's headless Chromium, started through Playwright with offline-friendly flags."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )


@dataclass
class BrowserLog:
    """Console errors and uncaught page errors, quoted in failure messages."""

    messages: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        """Record ``page``'s console errors and uncaught exceptions."""
        page.on("console", lambda msg: msg.type == "error" and self.messages.append(f"console: {msg.text}"))
        page.on("pageerror", lambda exc: self.messages.append(f"pageerror: {exc}"))

    def __str__(self) -> str:
        return "\n".join(self.messages[-20:]) or "(no browser errors)"


# --------------------------------------------------------------------------- the notebook

#: Opens a notebook with the Python kernel through the document manager (what a double
#: click in the file browser does) and remembers its panel as ``window.__aenbPanel``.
_OPEN_NOTEBOOK_JS = """
async ([path, kernelId]) => {
  const app = window.jupyterapp;
  await app.started;
  await app.restored;
  const panel = await app.commands.execute('docmanager:open', {
    path, factory: 'Notebook', kernel: kernelId ? { id: kernelId } : { name: 'python3' },
  });
  await panel.context.ready;
  await panel.sessionContext.ready;
  app.shell.activateById(panel.id);
  window.__aenbPanel = panel;
  return panel.sessionContext.session?.kernel?.id ?? null;
}
"""

#: True once the opened notebook's kernel is connected and idle.
_KERNEL_IDLE_JS = """
() => {
  const kernel = window.__aenbPanel?.sessionContext?.session?.kernel;
  return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
}
"""

#: Starts "Run > Run All Cells" on the opened notebook without waiting for it; the
#: promise's result lands in ``window.__aenbRunAll`` (``true``: every cell succeeded).
_RUN_ALL_JS = """
() => {
  const app = window.jupyterapp;
  app.shell.activateById(window.__aenbPanel.id);
  window.__aenbRunAll = undefined;
  Promise.resolve(app.commands.execute('notebook:run-all-cells'))
    .then((ok) => { window.__aenbRunAll = ok === undefined ? true : ok; })
    .catch((err) => { window.__aenbRunAll = 'error: ' + err; });
}
"""

#: Clears every output, then runs (in order) the code cells whose source contains the given text, as
#: a reader does by selecting a cell and pressing Shift+Enter; the result lands in ``window.__aenbRunAll``.
_RUN_CELLS_JS = """
(text) => {
  const app = window.jupyterapp;
  const panel = window.__aenbPanel;
  app.shell.activateById(panel.id);
  window.__aenbRunAll = undefined;
  (async () => {
    await app.commands.execute('notebook:clear-all-cell-outputs');
    const cells = panel.content.model.cells;
    let ok = true;
    for (let i = 0; i < cells.length; i++) {
      const cell = cells.get(i);
      if (cell.type === 'code' && cell.sharedModel.getSource().includes(text)) {
        panel.content.activeCellIndex = i;
        ok = (await app.commands.execute('notebook:run-cell')) !== false && ok;
      }
    }
    return ok;
  })().then((ok) => { window.__aenbRunAll = ok; })
      .catch((err) => { window.__aenbRunAll = 'error: ' + err; });
}
"""

#: Per code cell: execution count and any error output (name, value), for the report.
_CELL_STATES_JS = """
() => {
  const cells = window.__aenbPanel.content.model.cells;
  const states = [];
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type !== 'code') continue;
    const errors = cell.toJSON().outputs
      .filter((o) => o.output_type === 'error')
      .map((o) => `${o.ename}: ${o.evalue}`);
    const source = cell.sharedModel.getSource();
    states.push({ index: i, count: cell.executionCount, errors, source: source.slice(0, 120), full_source: source });
  }
  return states;
}
"""


def open_notebook(page: Page, server: LabServer, path: str, kernel_id: str | None = None,
                  timeout_s: float = 60.0) -> None:
    """Load JupyterLab in ``page``, open the notebook at ``path`` (relative to the server's
    root) on the kernel ``kernel_id`` (default: a new Python kernel), and wait until it is idle."""
    page.goto(server.lab_url(), wait_until="domcontentloaded", timeout=timeout_s * 1000)
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=timeout_s * 1000)
    connected = page.evaluate(_OPEN_NOTEBOOK_JS, [path, kernel_id])
    if kernel_id is not None and connected != kernel_id:
        raise AssertionError(f"{path} opened on kernel {connected}, not on the kernel {kernel_id} it was given")
    wait_for_kernel_idle(page, timeout_s)


def wait_for_kernel_idle(page: Page, timeout_s: float) -> None:
    """Wait until the opened notebook's kernel has finished all it was asked to do."""
    page.wait_for_function(_KERNEL_IDLE_JS, timeout=timeout_s * 1000, polling=100)


def run_all_cells(page: Page, timeout_s: float) -> list[dict]:
    """Run every cell of the opened notebook, as *Run > Run All Cells* does, and wait for
    the run to finish and the kernel to be idle again.

    Returns the code cells' states (index, execution count, error outputs, start of the
    source) so the caller can assert on them and quote them when a cell failed.
    """
    page.evaluate(_RUN_ALL_JS)
    return _wait_for_run(page, timeout_s)


def run_cells_containing(page: Page, text: str, timeout_s: float) -> list[dict]:
    """Clear all outputs, run only the code cells whose source contains ``text``, and wait as
    :func:`run_all_cells` does; returns the states of those cells (at least one, or an error)."""
    page.evaluate(_RUN_CELLS_JS, text)
    states = [state for state in _wait_for_run(page, timeout_s) if text in state["full_source"]]
    if not states:
        raise AssertionError(f"no code cell of the notebook contains {text!r}")
    return states


def _wait_for_run(page: Page, timeout_s: float) -> list[dict]:
    try:
        page.wait_for_function("() => window.__aenbRunAll !== undefined",
                               timeout=timeout_s * 1000, polling=250)
    except PlaywrightTimeout:
        states = page.evaluate(_CELL_STATES_JS)
        done = sum(state["count"] is not None for state in states)
        pending = next((s for s in states if s["count"] is None), None)
        raise AssertionError(
            f"the run did not finish within {timeout_s:.0f} s: {done} of {len(states)} code "
            f"cells ran; waiting on {pending['source'] if pending else '?'!r}"
        ) from None
    wait_for_kernel_idle(page, 30.0)
    return page.evaluate(_CELL_STATES_JS)


def run_failures(states: list[dict]) -> list[str]:
    """Human-readable problems in :func:`run_all_cells`' result: errors, unexecuted cells."""
    problems = []
    for state in states:
        if state["errors"]:
            problems.append(f"cell {state['index']} raised {'; '.join(state['errors'])}: {state['source']!r}")
        elif state["count"] is None:
            problems.append(f"cell {state['index']} did not run: {state['source']!r}")
    return problems


def widget_error_texts(page: Page) -> list[str]:
    """Cell outputs that show a widget error or a widget's text fallback instead of the
    widget (:data:`WIDGET_ERROR_PATTERNS`), quoted.

    Only outputs are searched: a tutorial's prose may well quote these messages.
    """
    outputs = page.locator(".jp-OutputArea-output").all_text_contents()
    return [f"output {text.strip()[:200]!r} matches /{pattern.pattern}/"
            for text in outputs for pattern in WIDGET_ERROR_PATTERNS if pattern.search(text)]


# --------------------------------------------------------------------------- the pixels


def png_pixels(png: bytes) -> np.ndarray:
    """Decode PNG bytes into an RGB ``uint8`` array."""
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def mean_abs_difference(before: bytes, after: bytes) -> float:
    """Mean absolute difference of two same-sized PNG screenshots, in grey levels (0-255)."""
    a, b = png_pixels(before), png_pixels(after)
    if a.shape != b.shape:
        raise AssertionError(f"screenshots differ in size: {a.shape} vs {b.shape}")
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def pixel_spread(png: bytes) -> float:
    """Standard deviation of a screenshot's pixel values: about 0 for a blank image."""
    return float(png_pixels(png).std())


def wait_for_image_loaded(image: Locator, timeout_s: float = 20.0) -> None:
    """Wait until the ``<img>`` that ``image`` locates has decoded a non-empty picture."""
    image.page.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 0",
        arg=image.element_handle(timeout=timeout_s * 1000), timeout=timeout_s * 1000, polling=100,
    )
