"""Startup benchmark: ``comfyctl --help`` and ``comfyctl status`` (unreachable URL) vs ``import httpx``.

Runs the three commands interleaved, several rounds, and prints each one's median wall time and its
ratio to the baseline ``python -c "import httpx"`` (target: at most 1.5x). Run it with the venv's
Python: ``.venv/bin/python bench/bench_startup.py [--rounds N]``.
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


if __name__ == "__main__":
    main()
