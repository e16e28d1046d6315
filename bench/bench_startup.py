"""Startup benchmark: ``comfyctl --help`` and ``comfyctl status`` (unreachable URL) vs ``import httpx``.

Runs the three commands interleaved, several rounds, and prints each one's median wall time and its
ratio to the baseline ``python -c "import httpx"`` (target: at most 1.5x). Then ``comfyctl sandbox``:
time from launch until it answers ``GET /system_stats`` (target: under one second), beside the same
baseline. Run it with the venv's Python: ``.venv/bin/python bench/bench_startup.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
    return time.perf_counter() - t0


def sandbox_ready(exe: Path, env: dict[str, str]) -> float:
    """Seconds from launching ``comfyctl sandbox`` until it answers an HTTP request."""
    import urllib.request

    port = closed_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [str(exe), "sandbox", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        while time.perf_counter() - t0 < 30:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/system_stats", timeout=1) as resp:
                    if resp.status == 200:
                        return time.perf_counter() - t0
            except OSError:
                time.sleep(0.005)
        raise SystemExit("comfyctl sandbox did not answer within 30 s")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    exe = Path(sys.executable).parent / "comfyctl"
    url = f"http://127.0.0.1:{closed_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMFYUI_", "COMFYCTL_"))}
    # Measure what users get: compiled bytecode cached after the first run. (With
    # PYTHONDONTWRITEBYTECODE set, as in some sandboxes, our own modules would be recompiled on
    # every start while httpx's were compiled at install time.) The cache goes to a temp folder.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="comfyctl-bench-pycache-")
    cases = {
        'python -c "import httpx"': [sys.executable, "-c", "import httpx"],
        "comfyctl --help": [str(exe), "--help"],
        "comfyctl status (unreachable)": [str(exe), "--url", url, "status"],
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for cmd in cases.values():  # warm the file cache once
        timed(cmd, env)
    for _ in range(args.rounds):
        for name, cmd in cases.items():
            times[name].append(timed(cmd, env))
    base = statistics.median(times['python -c "import httpx"'])
    print(f"{'command':<32} {'median ms':>10} {'min ms':>8} {'ratio':>6}   (rounds={args.rounds})")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"{name:<32} {med * 1000:>10.1f} {min(values) * 1000:>8.1f} {med / base:>6.2f}x")
    print("target: each comfyctl ratio <= 1.50x")
    ready = [sandbox_ready(exe, env) for _ in range(max(3, args.rounds // 3))]
    med = statistics.median(ready)
    print(
        f"{'comfyctl sandbox (until it answers)':<32} {med * 1000:>10.1f} {min(ready) * 1000:>8.1f} "
        f"{med / base:>6.2f}x   target: under 1000 ms"
    )


if __name__ == "__main__":
    main()
