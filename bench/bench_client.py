"""Client benchmark: comfyctl's Client vs a minimal raw client (urllib + one websocket), side by side.

Runs on the same server, interleaved, and prints ratios (issue 3 acceptance):

* latency: 50 sequential small jobs (submit → completion → history); median per job, target <= 1.10x raw;
* throughput: 200 jobs submitted together, then all waited for; the median over 15 paired rounds
  (alternating order) of raw time / comfyctl time, target >= 0.95x;
* memory: peak RSS growth while downloading a 200 MB output, in a fresh process per client;
  target flat, under 64 MB above the process's baseline.

The server is a sandbox in its own process by default, or a real ComfyUI named by ``COMFYUI_URL``
(the memory part always uses a local sandbox: it needs a 200 MB file in the output folder).
Usage: ``.venv/bin/python bench/bench_client.py [--jobs 50] [--batch 200] [--rounds 15] [--size-mb 200]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _raw_client import RawClient
from comfyctl import Client

SANDBOX = """
import sys, time
from comfyctl.testing import Sandbox
sb = Sandbox(port=0, root=sys.argv[1]).start()
print(sb.url, flush=True)
sys.stdin.read()
sb.stop()
"""

MEMORY = """
import json, resource, sys, tempfile
kind, url, name = sys.argv[1:4]
dest = tempfile.mkdtemp()
if kind in ("comfyctl", "control"):
    from comfyctl import Client
    from comfyctl.results import OutputFile
    c = Client(url)
    c.queue()  # warm: connection open, modules loaded
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if kind == "control":  # reads the whole file into memory: shows the measurement sees growth
        data = c.view(name)
    else:
        c.download(OutputFile(node_id="0", filename=name), dest)
else:
    sys.path.insert(0, sys.argv[4])
    from _raw_client import RawClient
    r = RawClient(url)
    r._json("/api/queue")
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    r.download(name, "", "output", dest + "/" + name)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"base_kb": base, "peak_kb": peak}))
"""


#: Every prompt id the benchmark queued (removed from a real server's history afterwards).
SUBMITTED: list[str] = []


def workflow(i: int) -> dict[str, Any]:
    """A tiny job that writes no file (saving files slows a server down as its folder grows)."""
    value = i * 7919 + int(time.time() * 1000) % 10**9  # unique: no execution cache
    return {
        "1": {"class_type": "PrimitiveInt", "inputs": {"value": value}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
    }


@contextlib.contextmanager
def sandbox_process(root: Path) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SANDBOX, str(root)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(30)


def latency(url: str, jobs: int) -> tuple[float, float]:
    raw, comfy = RawClient(url), Client(url)
    raw_t: list[float] = []
    comfy_t: list[float] = []
    try:
        for i in range(jobs + 3):  # 3 warm-up rounds, not counted
            order = ("raw", "comfy") if i % 2 else ("comfy", "raw")
            for who in order:
                t0 = time.perf_counter()
                if who == "raw":
                    pid = raw.submit(workflow(2 * i))
                    raw.wait(pid)
                else:
                    pid = comfy.run(workflow(2 * i + 1)).prompt_id
                dt = time.perf_counter() - t0
                SUBMITTED.append(pid)
                if i >= 3:
                    (raw_t if who == "raw" else comfy_t).append(dt)
    finally:
        raw.close()
        comfy.close()
    return statistics.median(raw_t), statistics.median(comfy_t)


def throughput(url: str, batch: int, rounds: int) -> list[float]:
    def run_raw() -> float:
        raw = RawClient(url)
        t0 = time.perf_counter()
        ids = [raw.submit(workflow(i)) for i in range(batch)]
        for pid in ids:
            raw.wait(pid)
        dt = time.perf_counter() - t0
        SUBMITTED.extend(ids)
        raw.close()
        return dt

    def run_comfy() -> float:
        with Client(url) as c:
            t0 = time.perf_counter()
            jobs = [c.submit(workflow(batch + i)) for i in range(batch)]
            for job in jobs:
                job.wait()
            dt = time.perf_counter() - t0
            SUBMITTED.extend(j.prompt_id for j in jobs)
            return dt

    # Paired rounds in alternating order; the ratio of each pair, then the median of the ratios.
    # Other load on a shared 2-core machine moves single rounds by +-30% either way, but it hits
    # both members of a pair alike and the median ignores the outliers. Our entries leave the
    # history between runs so each run meets the same server state.
    ratios = []
    for r in range(rounds):
        times = {}
        for who in ("raw", "comfy") if r % 2 == 0 else ("comfy", "raw"):
            times[who] = run_raw() if who == "raw" else run_comfy()
            forget_submitted(url)
        ratios.append(times["raw"] / times["comfy"])
    return ratios


def forget_submitted(url: str) -> None:
    """Delete the benchmark's own prompts from the history (never anybody else's)."""
    with Client(url) as c:
        for i in range(0, len(SUBMITTED), 100):
            c.delete_history(SUBMITTED[i : i + 100])
    SUBMITTED.clear()


def memory(size_mb: int) -> dict[str, float]:
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as root:
        out_dir = Path(root) / "output"
        out_dir.mkdir(parents=True)
        block = os.urandom(1 << 20)
        with open(out_dir / "big.bin", "wb") as fh:
            for _ in range(size_mb):
                fh.write(block)
        with sandbox_process(Path(root)) as url:
            for kind in ("raw", "comfyctl", "control"):
                res = subprocess.run(
                    [
                        sys.executable,
                        "-c",
                        MEMORY,
                        kind,
                        url,
                        "big.bin",
                        str(Path(__file__).resolve().parent),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                data = json.loads(res.stdout)
                out[kind] = (data["peak_kb"] - data["base_kb"]) / 1024
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=15, help="paired throughput rounds")
    args = parser.parse_args()
    real = os.environ.get("COMFYUI_URL")
    with contextlib.ExitStack() as stack:
        if real:
            url, where = real, f"real ComfyUI at {real}"
        else:
            url = stack.enter_context(
                sandbox_process(Path(stack.enter_context(tempfile.TemporaryDirectory())))
            )
            where = f"sandbox (own process) at {url}"
        print(f"server: {where}")
        raw_l, comfy_l = latency(url, args.jobs)
        print(
            f"latency, {args.jobs} sequential jobs (median): raw {raw_l * 1000:.1f} ms, "
            f"comfyctl {comfy_l * 1000:.1f} ms, ratio {comfy_l / raw_l:.3f}x (target <= 1.10x)"
        )
        ratios = sorted(throughput(url, args.batch, args.rounds))
        print(
            f"throughput, {args.batch} jobs together, {args.rounds} paired rounds: ratio raw time / "
            f"comfyctl time, median {statistics.median(ratios):.3f}x (target >= 0.95x; "
            f"rounds {' '.join(f'{x:.2f}' for x in ratios)})"
        )
    mem = memory(args.size_mb)
    print(
        f"memory, {args.size_mb} MB download (peak RSS above baseline): raw {mem['raw']:.1f} MB, "
        f"comfyctl {mem['comfyctl']:.1f} MB (target < 64 MB); control, view() into memory: "
        f"{mem['control']:.1f} MB"
    )


if __name__ == "__main__":
    main()
