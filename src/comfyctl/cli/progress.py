"""Live progress of one prompt on stderr: a rich line on a terminal, plain lines otherwise.

:class:`JobProgress` folds events into a small state (queue position, current node, nodes done of
total, cached nodes, sampler steps, elapsed, ETA); :class:`ProgressDisplay` draws it. rich is
imported only when a terminal display is actually drawn (house style: start fast).
"""

from __future__ import annotations

import sys
from typing import Any

from comfyctl.progress import JobProgress, nodes_to_run, output_nodes

__all__ = ["JobProgress", "ProgressDisplay", "nodes_to_run", "output_nodes"]


class _LiveLine:
    """A spinner whose text is recomputed on every refresh (so elapsed/ETA keep moving)."""

    def __init__(self, progress: JobProgress):
        from rich.spinner import Spinner

        self.progress = progress
        self.spinner = Spinner("dots", style="cyan")

    def __rich_console__(self, console: Any, options: Any) -> Any:
        self.spinner.update(text=self.progress.line())
        yield self.spinner


class ProgressDisplay:
    """Draw a :class:`JobProgress` on stderr.

    ``mode``: ``"live"`` (rich, redrawn in place, on a terminal), ``"plain"`` (occasional lines for
    logs: on a new node at most once a second, else every few seconds) or ``"off"`` (``--quiet``).
    """

    #: plain mode: a line when the node changes (at most one a second), else one every 5 s
    PLAIN_NODE_EVERY = 1.0
    PLAIN_EVERY = 5.0

    def __init__(self, progress: JobProgress, mode: str):
        self.progress = progress
        self.mode = mode
        self._live: Any = None
        self._last_plain = float("-inf")
        self._last_node: str | None = None

    @classmethod
    def for_stderr(cls, progress: JobProgress, *, quiet: bool) -> ProgressDisplay:
        from comfyctl.cli._common import stderr_is_tty

        if quiet:
            return cls(progress, "off")
        return cls(progress, "live" if stderr_is_tty() else "plain")

    def __enter__(self) -> ProgressDisplay:
        if self.mode == "live":
            from rich.console import Console
            from rich.live import Live

            self._live = Live(
                _LiveLine(self.progress), console=Console(stderr=True), refresh_per_second=8, transient=True
            )
            self._live.__enter__()
        return self

    def update(self, event: Any) -> None:
        if not self.progress.feed(event) or self.mode == "off":
            return
        if self.mode == "live":
            return  # rich redraws the line on its own refresh thread
        node = self.progress.node
        now = self.progress.clock()
        quiet_for = now - self._last_plain
        if quiet_for >= self.PLAIN_EVERY or (node != self._last_node and quiet_for >= self.PLAIN_NODE_EVERY):
            self._last_node, self._last_plain = node, now
            if self.progress.finished is None:
                print(self.progress.line(), file=sys.stderr, flush=True)

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None

    def final(self, text: str) -> None:
        """The clean last line, drawn once the live line is gone."""
        if self.mode != "off":
            print(text, file=sys.stderr, flush=True)
