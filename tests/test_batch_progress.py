"""The batch's live display: the plain line's content, plain mode's rate limit (an injected clock, no
sleeps), and the terminal display rendered by rich: one bar, one line per server."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import pytest
from rich.console import Console

from comfyctl.batch.progress import LiveDisplay, ServerRow, Snapshot, format_duration, plain_line

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

SERVERS = (
    ServerRow("gpu1", "busy", "job-0007 cfg=7", 2, 6, 0.8),
    ServerRow("http://10.0.0.2:8188", "down", None, 0, 4, None),
    ServerRow("gpu3", "backoff", None, 1, 0, 0.05),
)


def snap(done: int = 10, **kw: object) -> Snapshot:
    fields: dict[str, object] = {
        "run": "sweep-cfg",
        "total": 24,
        "done": done,
        "failed": 1,
        "running": 2,
        "rate": 1.25,
        "eta_s": 10.4,
        "servers": SERVERS,
    }
    fields.update(kw)
    return Snapshot(**fields)  # type: ignore[arg-type]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_plain_line_says_progress_rate_eta_failures_and_servers() -> None:
    line = plain_line(snap())
    assert "\n" not in line
    assert line.startswith("sweep-cfg: 10/24 done (41%)")
    for part in ("1.2 jobs/s", "ETA 10.4s", "1 failed", "2 running"):
        assert part in line
    servers = line.split(" | ", 1)[1].split("; ")
    assert servers == [
        "gpu1 busy q2 6 done 0.80/s",
        "http://10.0.0.2:8188 down q0 4 done",
        "gpu3 backoff q1 0 done 0.05/s",
    ]


def test_plain_line_stays_one_line_with_hostile_names() -> None:
    row = ServerRow("evil\nname\x1b[2J", "bu\rsy", "job", 1, 2, None)
    line = plain_line(snap(run="run\nwith\tbreaks", servers=(row,)))
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert line.startswith("run with breaks: ") and line.endswith("| evil name [2J bu sy q1 2 done")


def test_plain_line_when_unknown_finished_or_empty() -> None:
    unknown = plain_line(snap(rate=None, eta_s=None, running=0, servers=()))
    assert "? jobs/s" in unknown and "ETA ?" in unknown and "running" not in unknown and "|" not in unknown
    assert "finished" in plain_line(snap(done=23, failed=1)) and "ETA" not in plain_line(
        snap(done=23, failed=1)
    )
    assert plain_line(snap(done=0, total=0, failed=0)).startswith("sweep-cfg: 0/0 done ·")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "?"),
        (float("inf"), "?"),
        (-1, "?"),
        (0, "0.0s"),
        (9.24, "9.2s"),
        (245, "4m05s"),
        (7380, "2h03m"),
    ],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def test_plain_mode_prints_at_most_every_interval_and_a_last_line() -> None:
    out, clock = io.StringIO(), Clock()
    display = LiveDisplay(stream=out, interval=5.0, clock=clock)
    assert not display.tty  # a StringIO is not a terminal
    with display:
        for at, done in ((0, 1), (1, 2), (4.9, 3), (5.0, 4), (7.0, 5), (9.9, 6)):
            clock.now = 100.0 + at
            display.update(snap(done=done))
    lines = out.getvalue().splitlines()
    assert [line.split(" ")[1] for line in lines] == ["1/24", "4/24", "6/24"]  # t=0, t=5, then the close
    display.close()
    display.update(snap(done=7))
    assert out.getvalue().splitlines() == lines  # closed: nothing more


def test_plain_close_does_not_repeat_a_line_just_printed() -> None:
    out, clock = io.StringIO(), Clock()
    with LiveDisplay(stream=out, clock=clock) as display:
        display.update(snap(done=3))
    assert len(out.getvalue().splitlines()) == 1
    with LiveDisplay(stream=io.StringIO(), clock=clock):
        pass  # nothing to show: nothing printed, no error


def rendered(width: int, *snapshots: Snapshot) -> list[str]:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=width)
    with LiveDisplay(console=console) as display:
        for s in snapshots:
            display.update(s)
    # the last frame: what stays on the screen after close
    text = ANSI.sub("", buf.getvalue())
    return [line.rstrip() for line in text.splitlines()[-(1 + 1 + len(snapshots[-1].servers)) :]]


def test_terminal_display_has_one_bar_and_one_line_per_server() -> None:
    lines = rendered(110, snap(done=2), snap())
    bar, header, *rows = lines
    assert "sweep-cfg" in bar and "━" in bar
    for part in ("10/24", "1.2 jobs/s", "ETA 10.4s", "1 failed"):
        assert part in bar
    assert header.split() == ["server", "state", "current", "job", "queue", "done", "jobs/s"]
    assert len(rows) == len(SERVERS)
    assert rows[0].split() == ["gpu1", "busy", "job-0007", "cfg=7", "2", "6", "0.80"]
    assert rows[1].split() == ["http://10.0.0.2:8188", "down", "-", "0", "4", "-"]
    assert rows[2].split() == ["gpu3", "backoff", "-", "1", "0", "0.05"]


def test_terminal_bar_grows_with_progress() -> None:
    def filled(done: int) -> int:
        buf = io.StringIO()
        with LiveDisplay(console=Console(file=buf, force_terminal=True, width=110)) as display:
            display.update(snap(done=done, failed=0, servers=()))
        # rich writes the done part as one styled run of ━, then the rest in another style
        last_frame = buf.getvalue().rsplit("sweep-cfg", 1)[1]
        return len(re.findall("━+", last_frame)[0])

    assert filled(2) < filled(12) < filled(22)


@pytest.mark.parametrize("width", [40, 60, 100])
def test_terminal_display_fits_a_narrow_terminal_with_odd_names(width: int) -> None:
    servers = (
        ServerRow("ゲーム-サーバー-" + "x" * 80, "busy", "ジョブ\n\x1b[31m" * 5, 10**6, 10**9, 123456.0),
        *SERVERS,
    )
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=width)
    with LiveDisplay(console=console) as display:
        display.update(snap(run="r" * 200, servers=servers))
    assert "ジョブ\x1b" not in buf.getvalue()  # the hostile escape is not passed to the terminal
    text = ANSI.sub("", buf.getvalue())
    lines = text.splitlines()
    for line in lines:
        assert console.measure(line).maximum <= width
    # every server still has its line, its numbers uncut
    assert any(line.split()[-3:] == ["1000000", "1000000000", "123456"] for line in lines)
    assert any(line.startswith("http") for line in lines)
    assert "10/24" in text and "1 failed" in " ".join(" ".join(lines).split())


def test_a_stream_that_is_a_terminal_gets_the_live_display() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    with LiveDisplay(stream=out) as display:
        assert display.tty
        display.update(snap())
    assert "\x1b[" in out.getvalue() and "gpu1" in out.getvalue()
    plain = io.StringIO()
    with LiveDisplay(stream=plain, tty=False) as display:
        display.update(snap())
    assert "\x1b[" not in plain.getvalue()


def test_plain_mode_never_loads_rich() -> None:
    code = (
        "import io, sys\n"
        "from comfyctl.batch.progress import LiveDisplay, Snapshot\n"
        "with LiveDisplay(stream=io.StringIO()) as d:\n"
        "    d.update(Snapshot('r', 2, 1, 0, 1, 0.5, 2.0))\n"
        "assert 'rich' not in sys.modules, sorted(m for m in sys.modules if 'rich' in m)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


SCRIPT = """
from comfyctl.batch.progress import LiveDisplay, ServerRow, Snapshot
rows = (ServerRow("gpu1", "busy", "job-1", 2, 3, 0.5), ServerRow("gpu2", "down", None, 0, 1, None))
with LiveDisplay() as display:  # stderr, whatever it is
    for done in range(5):
        display.update(Snapshot("ptyrun", 4, done, 0, 1, 0.5, 2.0, rows))
print("result on stdout")
"""


def test_stderr_on_a_real_terminal_gets_the_live_view_and_a_pipe_plain_lines() -> None:
    pty = pytest.importorskip("pty")  # POSIX only
    import os

    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.stdout is not None
    stdout = proc.stdout.read().decode()
    proc.stdout.close()
    assert proc.wait(timeout=60) == 0
    screen = b"".join(chunks).decode(errors="replace")
    assert stdout == "result on stdout\n"  # results stay on stdout, clean
    assert "\x1b[" in screen and "━" in screen  # drawn in place, with a bar
    # the final frame stays on screen: the run's line with its bar, the header, a line per server
    last = ANSI.sub("", screen).replace("\r", "").splitlines()[-3:]
    assert last[0].split()[:2] == ["server", "state"]
    assert last[1].split() == ["gpu1", "busy", "job-1", "2", "3", "0.50"]
    assert last[2].split() == ["gpu2", "down", "-", "0", "1", "-"]
    run_line = ANSI.sub("", screen).replace("\r", "").rsplit("server", 1)[0].rstrip().rsplit("-", 1)[-1]
    assert run_line.startswith("ptyrun ━") and run_line.endswith("4/4 · 0.50 jobs/s · finished · 0 failed")

    piped = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env)
    assert piped.returncode == 0 and piped.stdout == "result on stdout\n"
    assert "\x1b[" not in piped.stderr
    # plain lines: the first update at once, the last on close (interval 5 s: none between)
    assert [line.split(" ")[1] for line in piped.stderr.splitlines()] == ["0/4", "4/4"]
