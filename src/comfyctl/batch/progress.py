"""What a person watches while a batch runs: one overall bar and one line per server on a terminal,
plain periodic lines in logs.

The coordinator hands :class:`LiveDisplay` a :class:`Snapshot` whenever something changes; the
display decides how often to draw it. Everything here is pure except the drawing: the snapshot and
:func:`plain_line` are data and text. As for single jobs (``comfyctl.cli.progress``): stderr by
default, rich imported only when a terminal display is actually drawn (house style: start fast).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

__all__ = ["LiveDisplay", "ServerRow", "Snapshot", "format_duration", "plain_line"]


@dataclass(frozen=True)
class ServerRow:
    """One server as the scheduler sees it: ``state`` (e.g. ``ok``, ``busy``, ``backoff``, ``down``),
    the job it runs now, how many of this run's jobs it holds, how many it finished, jobs/s."""

    name: str
    state: str
    current: str | None
    queue_depth: int
    done: int
    rate: float | None


@dataclass(frozen=True)
class Snapshot:
    """The whole run at one moment: counts, overall jobs/s, seconds left, and the servers."""

    run: str
    total: int
    done: int
    failed: int
    running: int
    rate: float | None
    eta_s: float | None
    servers: tuple[ServerRow, ...] = ()


def format_duration(seconds: float | None) -> str:
    """``9.2s``, ``4m05s``, ``2h03m``; ``?`` when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "?"
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        minutes, secs = divmod(int(seconds), 60)
        return f"{minutes}m{secs:02d}s"
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}h{rest // 60:02d}m"


def format_rate(rate: float | None) -> str:
    """Jobs per second, with the precision a reader can use (``0.05`` … ``12``); ``?`` unknown."""
    if rate is None or not math.isfinite(rate) or rate < 0:
        return "?"
    if rate >= 10:
        return f"{rate:.0f}"
    if rate >= 1:
        return f"{rate:.1f}"
    return f"{rate:.2f}"


def _clean(text: str, limit: int) -> str:
    """One line, no control characters (a server or job name is not trusted), at most ``limit``."""
    line = " ".join("".join(ch if ch.isprintable() else " " for ch in text[: limit * 4]).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _server_summary(row: ServerRow) -> str:
    parts = [_clean(row.state, 12), f"q{row.queue_depth}", f"{row.done} done"]
    if row.rate is not None:
        parts.append(f"{format_rate(row.rate)}/s")
    return f"{_clean(row.name, 60)} " + " ".join(parts)


def plain_line(s: Snapshot) -> str:
    """One log line: ``run: 12/24 done · 1.3 jobs/s · ETA 9.2s · 1 failed · 2 running | gpu1 busy q2
    7 done 0.80/s; gpu2 down q0 5 done``."""
    percent = f" ({100 * s.done // s.total}%)" if s.total else ""
    parts = [
        f"{_clean(s.run, 80)}: {s.done}/{s.total} done{percent}",
        f"{format_rate(s.rate)} jobs/s",
        f"ETA {format_duration(s.eta_s)}" if s.done + s.failed < s.total else "finished",
        f"{s.failed} failed",
    ]
    if s.running:
        parts.append(f"{s.running} running")
    line = " · ".join(parts)
    if s.servers:
        line += " | " + "; ".join(_server_summary(row) for row in s.servers)
    return line


#: state → rich style on the terminal
_STATE_STYLES = {"ok": "green", "busy": "green", "idle": "dim", "backoff": "yellow", "down": "red"}


class _View:
    """The terminal picture of a snapshot, laid out for the console's width when drawn: the run's
    line (name, bar, counts, jobs/s, ETA, failures), then a table with a line per server."""

    def __init__(self, snapshot: Snapshot | None):
        self.snapshot = snapshot

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        s = self.snapshot
        if s is None:
            yield Text("starting…", style="dim")
            return
        width = int(options.max_width)
        eta = f"ETA {format_duration(s.eta_s)}" if s.done + s.failed < s.total else "finished"
        stats = Text.assemble(
            f"{s.done}/{s.total} · {format_rate(s.rate)} jobs/s · {eta} · ",
            (f"{s.failed} failed", "bold red" if s.failed else "dim"),
        )
        name = Text(_clean(s.run, 32), style="bold")
        bar_width = min(40, width - name.cell_len - stats.cell_len - 2)
        done = s.done + s.failed
        head = Table.grid(padding=(0, 1))
        if bar_width >= 10:  # one line: name, bar, numbers
            head.add_row(name, ProgressBar(total=max(1, s.total), completed=done, width=bar_width), stats)
        else:  # narrow: a line each
            for part in (
                name,
                stats,
                ProgressBar(total=max(1, s.total), completed=done, width=min(40, width)),
            ):
                head.add_row(part)
        yield head
        if s.servers:
            yield self._servers(s.servers, width)

    @staticmethod
    def _servers(rows: tuple[ServerRow, ...], width: int) -> Any:
        """The server table, sized by hand: the numbers and states are never cut, the names and
        current jobs share what is left (the job is dropped before a name becomes unreadable)."""
        from rich.cells import cell_len
        from rich.table import Table
        from rich.text import Text

        cells = [
            (
                _clean(r.name, 60),
                _clean(r.state, 12),
                _clean(r.current, 60) if r.current else "-",
                str(r.queue_depth),
                str(r.done),
                format_rate(r.rate) if r.rate is not None else "-",
            )
            for r in rows
        ]
        headers = ("server", "state", "current job", "queue", "done", "jobs/s")
        widths = [max(cell_len(h), *(cell_len(c[i]) for c in cells)) for i, h in enumerate(headers)]
        room = width - sum(widths[i] for i in (1, 3, 4, 5)) - len(headers)
        server_w = min(widths[0], max(8, room // 2))
        current_w = min(widths[2], room - server_w)
        show_current = current_w >= 6
        if not show_current:
            server_w = max(4, room + 1)  # the job column's space and its gap
        table = Table(box=None, padding=(0, 1, 0, 0), show_edge=False, pad_edge=False)
        table.add_column(headers[0], no_wrap=True, overflow="ellipsis", width=server_w)
        table.add_column(headers[1], no_wrap=True, width=widths[1])
        if show_current:
            table.add_column(headers[2], no_wrap=True, overflow="ellipsis", width=current_w)
        for i in (3, 4, 5):
            table.add_column(headers[i], justify="right", no_wrap=True, width=widths[i])
        for row, cell in zip(rows, cells, strict=True):
            state = Text(cell[1], style=_STATE_STYLES.get(row.state, ""))
            middle = [cell[2]] if show_current else []
            table.add_row(cell[0], state, *middle, *cell[3:])
        return table


def render(s: Snapshot | None) -> Any:
    """The rich renderable of a snapshot (laid out for the width it is drawn at)."""
    return _View(s)


class LiveDisplay:
    """Draw snapshots: on a terminal a rich Live display redrawn in place (a bar, a line per server);
    otherwise one :func:`plain_line` at most every ``interval`` seconds, and a last one on close.

    Args:
        stream: where to draw (default stderr: results go to stdout).
        tty: force the terminal display on or off (default: whether ``stream`` is a terminal).
        interval: plain mode: the least number of seconds between two lines.
        clock: monotonic seconds (injectable for tests).
        console: a rich ``Console`` to draw on instead of one made for ``stream``.

    Example:
        >>> with LiveDisplay() as display:  # doctest: +SKIP
        ...     display.update(snapshot)
    """

    def __init__(
        self,
        *,
        stream: TextIO | None = None,
        tty: bool | None = None,
        interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        console: Any = None,
    ):
        self.stream = stream if stream is not None else sys.stderr
        if tty is None:
            tty = console is not None or _isatty(self.stream)
        self.tty = tty
        self.interval = interval
        self.clock = clock
        self._console = console
        self._live: Any = None
        self._latest: Snapshot | None = None
        self._printed: Snapshot | None = None
        self._last_print = -math.inf
        self._closed = False

    def __enter__(self) -> LiveDisplay:
        self._start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        if not self.tty or self._live is not None or self._closed:
            return
        from rich.console import Console
        from rich.live import Live

        # tty forced on: draw as on a terminal even when the stream cannot say it is one
        console = self._console or Console(file=self.stream, force_terminal=True)
        self._live = Live(render(self._latest), console=console, refresh_per_second=4, transient=False)
        self._live.start()

    def update(self, snapshot: Snapshot) -> None:
        """Show ``snapshot`` (the terminal redraws it on its next tick; plain mode prints it if the
        last line is at least ``interval`` old)."""
        if self._closed:
            return
        self._latest = snapshot
        if self.tty:
            self._start()
            self._live.update(render(snapshot))
            return
        now = self.clock()
        if now - self._last_print >= self.interval:
            self._print(snapshot, now)

    def _print(self, snapshot: Snapshot, now: float) -> None:
        print(plain_line(snapshot), file=self.stream, flush=True)
        self._printed, self._last_print = snapshot, now

    def close(self) -> None:
        """Draw the final state once and stop (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._live is not None:
            self._live.update(render(self._latest), refresh=True)
            self._live.stop()
            self._live = None
        elif self._latest is not None and self._latest is not self._printed:
            self._print(self._latest, self.clock())


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
