"""What both explorers share: how they are displayed, and how a failing callback is shown.

ipywidgets runs slider and button callbacks outside any cell, so an exception raised in one
goes to the kernel's log, which a reader never sees: the slider moves, the picture stays as it
was, and nothing says why. :meth:`Explorer.callback` wraps each callback so that an exception
is written into the explorer's own status line instead, naming what failed, and the images it
could not redraw get a red border (they show the last state that worked).
"""

from __future__ import annotations

import html
from typing import Any, Callable

import ipywidgets as widgets

#: Border of an image that could not be redrawn: it still shows the last state that worked.
STALE_BORDER = "3px solid #c62828"


class Explorer:
    """Base of the explorers: a ``widget`` to display, a ``status`` line, and :attr:`error`.

    Subclasses build ``self.widget`` (including ``self.status``) and list the image views a
    failed update leaves stale in ``self.views``.
    """

    widget: widgets.VBox
    views: dict[str, widgets.Image]

    def __init__(self) -> None:
        #: The status line under the explorer: empty while every update works, else the error.
        self.status = widgets.HTML()
        self.status.add_class("aenb-explorer-status")
        #: ``"<what> failed: <Exception>: <message>"`` of the last callback that failed, or None
        #: once an update has worked again.
        self.error: str | None = None

    def callback(self, describe: Callable[[], str], action: Callable[[], Any]) -> Callable[..., None]:
        """``action`` as a widget callback: an exception is shown in :attr:`status`, not lost.

        ``describe()`` names what the reader did (e.g. "moving z1 to +1.20"), for the message.
        """

        def run(*_: Any) -> None:
            try:
                action()
            except Exception as exc:  # every failure, so none goes unseen; the kernel keeps running
                self.show_error(f"{describe()} failed: {type(exc).__name__}: {exc}")

        return run

    def show_error(self, message: str) -> None:
        """Write ``message`` into the status line and mark every image view as stale."""
        self.error = message
        self.status.value = (
            f"<div style='color: #c62828; font-family: monospace; white-space: pre-wrap'>"
            f"&#9888; {html.escape(message)}\nThe images with a red border show the last state that worked.</div>"
        )
        for view in self.views.values():
            view.layout.border = STALE_BORDER

    def clear_error(self) -> None:
        """After an update that worked: empty the status line and unmark the images."""
        if self.error is None:
            return
        self.error = None
        self.status.value = ""
        for view in self.views.values():
            view.layout.border = None

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The widget's own bundle with a text/plain line that does not depend on the weights."""
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = repr(self)
        return bundle
