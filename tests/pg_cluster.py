"""A throwaway PostgreSQL cluster for the tests: a real server, never a mock of the database.

Debian's server binaries (the newest ``/usr/lib/postgresql/*/bin``) run a private cluster: the data
directory and the unix socket live in a fresh temp folder, the server listens on a free port of
127.0.0.1 only, and authentication is ``trust`` for loopback and the private socket (nobody else can
reach either). ``fsync`` and ``full_page_writes`` are off for speed: that only risks data on an
operating-system crash, and the cluster is thrown away anyway; a ``restart()`` or a killed server still
recovers every commit from WAL, because the kernel keeps what was written. ``synchronous_commit`` stays
on: off, a server killed mid-run (``restart(mode="immediate")``) loses its last commits, which a real
deployment would not, and the batch store's crash tests would test the wrong thing.

PostgreSQL refuses to run as root, so under root (CI, containers) ``initdb`` and ``postgres`` run as the
``postgres`` system user (``runuser -u postgres --``) in a temp folder that user owns.

No stray server is left behind: :meth:`PgCluster.stop` waits for the postmaster to exit, and a small
watchdog process stops the cluster when the process that started it dies without stopping it
(SIGKILL, a crash), which ``atexit`` and fixture teardown cannot cover.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["PgCluster", "PgUnavailable", "find_bindir", "pid_alive"]

#: Where Debian's ``postgresql-NN`` packages put the server binaries.
DEBIAN_BINDIRS = "/usr/lib/postgresql/*/bin"
_MISSING = (
    "PostgreSQL server binaries not found ({where}/initdb): install Debian's `postgresql` package "
    "(DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql)"
)

# Run by the watchdog: blocks until the parent's end of the pipe closes (the parent exited, however it
# died), then stops the cluster if it still runs and removes its folder.
_WATCHDOG = """
import os, shutil, subprocess, sys
sys.stdin.buffer.read()
cmd, data, base = sys.argv[1:-2], sys.argv[-2], sys.argv[-1]
if os.path.exists(os.path.join(data, "postmaster.pid")):
    subprocess.run(cmd + ["-D", data, "-m", "immediate", "-w", "stop"], cwd=base,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
shutil.rmtree(base, ignore_errors=True)
"""


class PgUnavailable(RuntimeError):
    """PostgreSQL cannot be run here; the message says what to install."""


def find_bindir(pattern: str = DEBIAN_BINDIRS) -> Path:
    """The newest directory matching ``pattern`` that holds ``initdb`` (15 beats 9.6).

    Raises:
        PgUnavailable: none found; the one-line message names the package to install.
    """
    import glob

    found = [Path(p) for p in glob.glob(pattern) if (Path(p) / "initdb").is_file()]
    if not found:
        raise PgUnavailable(_MISSING.format(where=pattern))

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", path.parent.name)) or (0,)

    return max(found, key=version)


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie nobody reaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


#: ``pg_ctl stop -m MODE``'s signals to the postmaster
_SHUTDOWN_SIGNALS = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgCluster:
    """A private PostgreSQL server: ``start()``, ``.dsn``, ``restart()``, ``stop()``.

    Args:
        bindir: the server binaries (default: the newest Debian ones, :func:`find_bindir`).
        user: the database superuser created by ``initdb``.
        dbname: the database ``.dsn`` names (``postgres`` always exists).

    Example:
        >>> cluster = PgCluster()
        >>> cluster.start()  # doctest: +SKIP
        >>> psycopg.connect(cluster.dsn)  # doctest: +SKIP
        >>> cluster.stop()  # doctest: +SKIP
    """

    def __init__(self, *, bindir: Path | None = None, user: str = "comfyctl", dbname: str = "postgres"):
        self._bindir = bindir
        self.user = user
        self.dbname = dbname
        self.port: int | None = None
        self.base: Path | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._server: subprocess.Popen[bytes] | None = None

    # -- paths -------------------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self._base / "data"

    @property
    def socket_dir(self) -> Path:
        return self._base / "sock"

    @property
    def log_file(self) -> Path:
        return self._base / "server.log"

    @property
    def _base(self) -> Path:
        if self.base is None:
            raise RuntimeError("the cluster was never started")
        return self.base

    @property
    def dsn(self) -> str:
        """``postgresql://USER@127.0.0.1:PORT/DATABASE`` (trust auth: no password)."""
        if self.port is None:
            raise RuntimeError("the cluster was never started")
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.dbname}"

    def dsn_for(self, database: str) -> str:
        """The same server, another database."""
        return self.dsn.rsplit("/", 1)[0] + "/" + database

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while it runs (from ``postmaster.pid``), else None."""
        try:
            first = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
        except (OSError, RuntimeError):
            return None
        pid = int(first) if first.strip().isdigit() else None
        return pid if pid is not None and pid_alive(pid) else None

    # -- running the binaries ------------------------------------------------------------------------

    def _as_owner(self) -> list[str]:
        """The command prefix that runs a binary as the cluster's owner (``postgres`` under root)."""
        if os.geteuid() != 0:
            return []
        runuser = shutil.which("runuser")
        if runuser is None:
            raise PgUnavailable("running PostgreSQL as root needs `runuser` (Debian's util-linux package)")
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            raise PgUnavailable(
                "running PostgreSQL as root needs the `postgres` system user: install Debian's "
                "`postgresql` package"
            ) from None
        return [runuser, "-u", "postgres", "--"]

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        bindir = self._bindir or find_bindir()
        cmd = [*self._as_owner(), str(bindir / tool), *args]
        # cwd: the owner must be able to read it (pytest's cwd may be a root-only folder)
        done = subprocess.run(cmd, cwd=self._base, capture_output=True, text=True, check=False)
        if check and done.returncode != 0:
            log = ""
            with contextlib.suppress(OSError):
                log = self.log_file.read_text()[-2000:]
            raise PgUnavailable(
                f"{tool} {' '.join(args[:2])} failed ({done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-800:]} {log.strip()}".strip()
            )
        return done

    def _make_base(self) -> Path:
        """A fresh temp folder the cluster's owner can use (chowned to ``postgres`` under root)."""
        base = Path(tempfile.mkdtemp(prefix="comfyctl-pg-"))
        if os.geteuid() == 0:
            import pwd

            owner = pwd.getpwnam("postgres")
            os.chown(base, owner.pw_uid, owner.pw_gid)
            probe = subprocess.run([*self._as_owner(), "test", "-w", str(base)], check=False)
            if probe.returncode != 0:  # TMPDIR is a folder the postgres user cannot reach: use /tmp
                shutil.rmtree(base, ignore_errors=True)
                base = Path(tempfile.mkdtemp(prefix="comfyctl-pg-", dir="/tmp"))
                os.chown(base, owner.pw_uid, owner.pw_gid)
        return base

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> PgCluster:
        """initdb a new cluster in a temp folder and start it on a free port (first call), or start
        the existing one again on the same port (after :meth:`stop` without cleanup, or restart)."""
        bindir = self._bindir or find_bindir()
        if not (bindir / "initdb").is_file():
            raise PgUnavailable(_MISSING.format(where=bindir))
        self._bindir = bindir
        if self.base is None:
            self.base = self._make_base()
            self._initdb()
            self._start_watchdog()
            for attempt in range(3):  # a free port can be taken between probe and bind: pick another
                self.port = _free_port()
                try:
                    self._launch()
                    break
                except PgUnavailable:
                    if attempt == 2 or "could not bind" not in self.log_file.read_text():
                        raise
        else:
            self._launch()
        return self

    def _initdb(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            self.user,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        # only loopback TCP and our own socket; both trusted (nobody else can reach them)
        hba = "local all all trust\nhost all all 127.0.0.1/32 trust\n"
        (self.data_dir / "pg_hba.conf").write_text(hba)  # root writes in place: owner and mode stay
        self.socket_dir.mkdir()
        if os.geteuid() == 0:
            import pwd

            owner = pwd.getpwnam("postgres")
            os.chown(self.socket_dir, owner.pw_uid, owner.pw_gid)

    def _options(self) -> list[str]:
        assert self.port is not None
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            "fsync": "off",  # a throwaway cluster: see the module docstring
            "full_page_writes": "off",
            "max_connections": "200",
            "shared_buffers": "32MB",
        }
        return [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]

    def _launch(self) -> None:
        """Run ``postgres`` as our child and wait until it accepts connections.

        Not through ``pg_ctl start``: its postmaster is orphaned, and where PID 1 reaps nothing (this
        container's init) every stopped server would linger as a zombie.
        """
        bindir = self._bindir or find_bindir()
        with open(self.log_file, "ab") as log:
            # its own session: a Ctrl-C to the tests' process group must not stop it before teardown
            self._server = subprocess.Popen(
                [*self._as_owner(), str(bindir / "postgres"), "-D", str(self.data_dir), *self._options()],
                cwd=self._base,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 120
        while not self._ready():
            if self._server.poll() is not None or time.monotonic() > deadline:
                self._server.kill()
                self._server.wait()
                self._server = None
                raise PgUnavailable(f"postgres did not start: {self.log_file.read_text()[-1500:].strip()}")
            time.sleep(0.05)

    def _ready(self) -> bool:
        """``postmaster.pid`` names a live server that says ``ready`` (what ``pg_ctl -w`` waits for)."""
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return len(lines) >= 8 and lines[7].strip() == "ready" and self.pid is not None

    def _start_watchdog(self) -> None:
        bindir = self._bindir or find_bindir()
        cmd = [*self._as_owner(), str(bindir / "pg_ctl")]
        # its own session: a Ctrl-C to our process group leaves it to clean up after us
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, *cmd, str(self.data_dir), str(self._base)],
            stdin=subprocess.PIPE,
            start_new_session=True,
        )

    def stop(self, *, mode: str = "fast", cleanup: bool = True) -> None:
        """Stop the server and wait until the postmaster has exited.

        Args:
            mode: PostgreSQL's shutdown modes: ``smart``, ``fast`` (disconnect clients, checkpoint)
                or ``immediate`` (no checkpoint, as a crash; recovered from WAL on the next start).
            cleanup: also remove the temp folder (the cluster cannot be started again).
        """
        if self.base is None:
            return
        pid = self.pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, _SHUTDOWN_SIGNALS[mode])
            deadline = time.monotonic() + 120
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        if self._server is not None:
            self._server.wait(timeout=60)  # runuser (or the postmaster itself): reaped, no zombie
            self._server = None
        if cleanup:
            if self._watchdog is not None:
                assert self._watchdog.stdin is not None
                self._watchdog.stdin.close()  # EOF: the watchdog finds nothing running and exits
                self._watchdog.wait(timeout=60)
                self._watchdog = None
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None

    def restart(self, *, mode: str = "fast") -> None:
        """Stop and start the same data folder on the same port (what a chaos test does mid-run).

        ``mode="immediate"`` kills the server without a checkpoint, as a crash would; it recovers
        from WAL on start.
        """
        self.stop(mode=mode, cleanup=False)
        self._launch()

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        """A fresh, empty database ``test_<uuid>`` for one test; yields its DSN, drops it after
        (``WITH (FORCE)``: connections a test left open do not keep it alive)."""
        import psycopg

        name = f"test_{uuid.uuid4().hex}"
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
        try:
            yield self.dsn_for(name)
        finally:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())

    def __enter__(self) -> PgCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
