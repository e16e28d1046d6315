"""The PostgreSQL test infrastructure itself: a real server starts, serves SQL, survives a restart
with its data, and leaves no process behind however its owner ends (stop, SIGKILL, Ctrl-C)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psycopg
import pytest

from pg_cluster import PgCluster, PgUnavailable, find_bindir, pid_alive

TESTS = Path(__file__).resolve().parent


def wait_gone(pid: int, timeout: float = 60.0) -> bool:
    """Wait (on the condition, bounded) until ``pid`` has exited."""
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_pg_dsn_is_a_fresh_database_on_loopback(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        name, addr = conn.execute("select current_database(), host(inet_server_addr())").fetchone() or ()
        tables = conn.execute(
            "select count(*) from information_schema.tables where table_schema = 'public'"
        ).fetchone()
        conn.execute("create table jobs (key text primary key, state text not null)")
        conn.execute("insert into jobs values ('a', 'done')")
        conn.commit()
        assert conn.execute("select state from jobs where key = 'a'").fetchone() == ("done",)
    assert name.startswith("test_") and pg_dsn.endswith("/" + name)
    assert addr == "127.0.0.1"
    assert tables == (0,)


def test_database_is_dropped_after_use(pg_cluster: PgCluster) -> None:
    with pg_cluster.database() as dsn, psycopg.connect(dsn) as conn:
        name = conn.execute("select current_database()").fetchone()
        # left open on purpose: the drop must not wait for the test's connections
        with pg_cluster.database() as other:
            assert other != dsn
    with psycopg.connect(pg_cluster.dsn) as admin:
        rows = admin.execute("select datname from pg_database where datname like 'test_%'").fetchall()
    assert name is not None and (name[0],) not in rows
    assert not any(other.endswith("/" + row[0]) for row in rows)


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_restart_keeps_data_and_address(pg_cluster: PgCluster, mode: str) -> None:
    with pg_cluster.database() as dsn:
        with psycopg.connect(dsn) as conn:
            conn.execute("create table t (n int)")
            conn.execute("insert into t select generate_series(1, 1000)")
            conn.commit()
            before = pg_cluster.pid
            pg_cluster.restart(mode=mode)
            with pytest.raises(psycopg.OperationalError):  # the old session died with the server
                conn.execute("select 1")
        assert before is not None and not pid_alive(before)
        assert pg_cluster.pid not in (None, before)
        with psycopg.connect(dsn) as conn:  # the same DSN: same port, same data folder
            assert conn.execute("select count(*), sum(n) from t").fetchone() == (1000, 500500)


def test_stop_leaves_no_process_and_no_folder() -> None:
    cluster = PgCluster().start()
    pid, base, port = cluster.pid, cluster.base, cluster.port
    assert pid is not None and pid_alive(pid) and base is not None and port is not None
    with psycopg.connect(cluster.dsn) as conn:
        assert conn.execute("select pg_backend_pid() <> %s", (pid,)).fetchone() == (True,)
    cluster.stop()
    assert not pid_alive(pid)
    assert not base.exists()
    with socket.socket() as sock:  # the port is free again
        sock.bind(("127.0.0.1", port))
    assert subprocess.run(["pgrep", "-f", str(base)], capture_output=True).stdout == b""


def test_a_killed_owner_leaves_no_server(tmp_path: Path) -> None:
    """SIGKILL skips every finally and atexit: the watchdog stops the server."""
    script = textwrap.dedent(
        """
        import json, os, signal, sys
        sys.path.insert(0, sys.argv[1])
        from pg_cluster import PgCluster
        cluster = PgCluster().start()
        print(json.dumps({"pid": cluster.pid, "base": str(cluster.base)}), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run([sys.executable, "-c", script, str(TESTS)], capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stderr
    started = json.loads(done.stdout)
    try:
        assert wait_gone(started["pid"])
        deadline = time.monotonic() + 30
        while Path(started["base"]).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not Path(started["base"]).exists()
    finally:
        if pid_alive(started["pid"]):
            os.kill(started["pid"], signal.SIGQUIT)


def test_ctrl_c_tears_the_session_cluster_down(tmp_path: Path) -> None:
    """A pytest session interrupted by Ctrl-C stops the ``pg_cluster`` fixture's server itself.

    The inner test kills the watchdog first, so only the fixture's teardown can stop the server.
    """
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_interrupted.py").write_text(
        textwrap.dedent(
            """
            import json, os, signal
            def test_interrupted(pg_cluster, pg_dsn):
                watchdog = pg_cluster._watchdog.pid
                os.kill(watchdog, signal.SIGKILL)
                os.waitpid(watchdog, 0)
                with open("started.json", "w") as f:
                    json.dump({"pid": pg_cluster.pid}, f)
                os.kill(os.getpid(), signal.SIGINT)
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    pytest_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "conftest", "-p", "no:cacheprovider"]
    done = subprocess.run(
        [*pytest_cmd, "test_interrupted.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == pytest.ExitCode.INTERRUPTED, done.stdout + done.stderr
    pid = json.loads((tmp_path / "started.json").read_text())["pid"]
    try:
        assert not pid_alive(pid)  # already gone when pytest exits: nobody else could have stopped it
    finally:
        if pid_alive(pid):
            os.kill(pid, signal.SIGQUIT)


def test_missing_binaries_name_the_package(tmp_path: Path) -> None:
    with pytest.raises(PgUnavailable) as missing:
        find_bindir(str(tmp_path / "*" / "bin"))
    message = str(missing.value)
    assert "\n" not in message and "`postgresql` package" in message and "apt-get install" in message
    with pytest.raises(PgUnavailable, match="`postgresql` package"):
        PgCluster(bindir=tmp_path).start()


def test_the_newest_server_is_chosen(tmp_path: Path) -> None:
    for version in ("9.6", "15", "13", "16-broken"):
        (tmp_path / version / "bin").mkdir(parents=True)
        if version != "16-broken":  # no initdb: not a server
            (tmp_path / version / "bin" / "initdb").write_text("")
    assert find_bindir(str(tmp_path / "*" / "bin")) == tmp_path / "15" / "bin"
