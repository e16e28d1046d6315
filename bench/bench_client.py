"""Client benchmark: comfyctl's Client vs a minimal raw client (urllib + one websocket), side by side.

Runs on the same server, interleaved, and prints ratios (issue 3 acceptance):

* latency: 50 sequential small jobs (submit → completion → history); median per job, target <= 1.10x raw;
* throughput: 200 jobs submitted together, then all waited for; the median over 15 paired rounds
  (alternating order) of raw time / comfyctl time, target >= 0.95x;
* memory: peak RSS growth while downloading a 200 MB output, in a fresh process per client;
  target flat, under 64 MB above the process's baseline;
* transports: the sync client over each candidate transport (bench/_transports.py: comfyctl's
  KeepAliveTransport, httpx's HTTPTransport, urllib3's pool, httpx-pycurl), against the floor of a
  bare ``http.client`` connection kept alive: client CPU and wall time per request (``GET /api/queue``,
  the client's own call, parsed), as the median over paired rounds (rotating order) of each round's
  ratio to the floor; and per job, the throughput ratio (raw time / that client's time, the same
  paired rounds as above) with the client's CPU per job. CPU time (``time.process_time``: the
  benchmark process only, the server runs in another) moves far less with other load than wall time.

The server is a sandbox in its own process by default, or a real ComfyUI named by ``COMFYUI_URL``
(the memory part always uses a local sandbox: it needs a 200 MB file in the output folder).
Usage: ``.venv/bin/python bench/bench_client.py [--jobs 50] [--batch 200] [--rounds 15] [--size-mb 200]
[--requests 500] [--transports comfyctl,httpx,urllib3,pycurl]`` (urllib3 and pycurl are measured when
installed: ``pip install urllib3 httpx-pycurl``).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _raw_client import RawClient
from _transports import available
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


Factory = Callable[..., httpx.BaseTransport]


def verify_for(url: str) -> bool:
    return url.startswith("https://")  # as the client's default: no CA loading for plain http


def throughput(url: str, batch: int, rounds: int, candidates: dict[str, Factory]) -> dict[str, Runs]:
    """Per candidate transport: each round's raw time / that client's time, and its CPU per job."""

    def run_raw() -> tuple[float, float]:
        raw = RawClient(url)
        c0, t0 = time.process_time(), time.perf_counter()
        ids = [raw.submit(workflow(i)) for i in range(batch)]
        for pid in ids:
            raw.wait(pid)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        SUBMITTED.extend(ids)
        raw.close()
        return dt, cpu

    def run_comfy(factory: Factory) -> tuple[float, float]:
        with Client(url, transport=factory(verify_for(url))) as c:
            c0, t0 = time.process_time(), time.perf_counter()
            jobs = [c.submit(workflow(batch + i)) for i in range(batch)]
            for job in jobs:
                job.wait()
            dt, cpu = time.perf_counter() - t0, time.process_time() - c0
            SUBMITTED.extend(j.prompt_id for j in jobs)
            return dt, cpu

    # Paired rounds in rotating order; the ratio of each pair, then the median of the ratios.
    # Other load on a shared 2-core machine moves single rounds by +-30% either way, but it hits
    # both members of a pair alike and the median ignores the outliers. Our entries leave the
    # history between runs so each run meets the same server state.
    names = ["raw", *candidates]
    out = {name: Runs() for name in names}
    for r in range(rounds):
        times = {}
        for who in names[r % len(names) :] + names[: r % len(names)]:
            times[who], cpu = run_raw() if who == "raw" else run_comfy(candidates[who])
            out[who].cpu.append(cpu / batch)
            forget_submitted(url)
        for who in candidates:
            out[who].ratio.append(times["raw"] / times[who])
    return out


class Runs:
    """One contender's figures over the paired rounds (a ratio to the baseline per round)."""

    def __init__(self) -> None:
        self.ratio: list[float] = []
        self.cpu: list[float] = []
        self.cpu_ratio: list[float] = []
        self.wall: list[float] = []
        self.wall_ratio: list[float] = []


def per_request(url: str, requests: int, rounds: int, candidates: dict[str, Factory]) -> dict[str, Runs]:
    """CPU and wall time per ``queue()`` call over each transport, and as a ratio to the floor: a bare
    http.client connection kept alive doing the same GET and JSON parse (the least any client does)."""

    def floor() -> Callable[[], object]:
        parts = urllib.parse.urlsplit(url)
        conn_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = conn_class(parts.netloc)
        prefix = parts.path.rstrip("/")

        def call() -> object:
            conn.request("GET", prefix + "/api/queue")
            return json.loads(conn.getresponse().read())

        return call

    names = ["floor", *candidates]
    out = {name: Runs() for name in names}
    for r in range(rounds):
        seen: dict[str, tuple[float, float]] = {}
        for who in names[r % len(names) :] + names[: r % len(names)]:
            client = None if who == "floor" else Client(url, transport=candidates[who](verify_for(url)))
            call = floor() if client is None else client.queue
            for _ in range(20):  # connected and warm
                call()
            c0, t0 = time.process_time(), time.perf_counter()
            for _ in range(requests):
                call()
            seen[who] = ((time.process_time() - c0) / requests, (time.perf_counter() - t0) / requests)
            if client is not None:
                client.close()
        for who in names:
            cpu, wall = seen[who]
            runs = out[who]
            runs.cpu.append(cpu)
            runs.wall.append(wall)
            runs.cpu_ratio.append(cpu / seen["floor"][0])
            runs.wall_ratio.append(wall / seen["floor"][1])
    return out


def transport_table(
    requests: int, rounds: int, per_req: dict[str, Runs], jobs: dict[str, Runs], labels: dict[str, str]
) -> str:
    med = statistics.median
    lines = [
        f"transports, sync client: per request ({requests} queue() calls a round) vs the floor (bare "
        f"http.client kept alive), per job (throughput above) vs raw; medians of {rounds} paired rounds",
        f"  {'transport':<46} {'CPU/request':>17} {'wall/request':>17} {'throughput':>11} {'CPU/job':>9}",
    ]
    for who in per_req:
        r = per_req[who]
        job = jobs.get(who if who != "floor" else "raw")
        tail = f"{'':>11} {'':>9}"
        if job is not None:
            ratio = f"{med(job.ratio):.3f}x" if job.ratio else "1.000x"
            tail = f"{ratio:>11} {med(job.cpu) * 1000:>6.2f} ms"
        label = "floor / raw: http.client / RawClient" if who == "floor" else f"{who}: {labels[who]}"
        lines.append(
            f"  {label:<46} {med(r.cpu) * 1e6:>6.0f} us {med(r.cpu_ratio):>6.2f}x "
            f"{med(r.wall) * 1e6:>6.0f} us {med(r.wall_ratio):>6.2f}x {tail}"
        )
    return "\n".join(lines)


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
    parser.add_argument("--requests", type=int, default=500, help="queue() calls per transport round")
    found = available()
    parser.add_argument(
        "--transports",
        default=",".join(found),
        help=f"candidates compared, comma-separated (installed here: {','.join(found)})",
    )
    args = parser.parse_args()
    names = ["comfyctl", *(n for n in args.transports.split(",") if n and n != "comfyctl")]
    unknown = [n for n in names if n not in found]
    if unknown:
        parser.error(f"unknown or not installed transport(s): {', '.join(unknown)}")
    candidates = {n: found[n][0] for n in names}
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
        jobs = throughput(url, args.batch, args.rounds, candidates)
        ratios = sorted(jobs["comfyctl"].ratio)
        print(
            f"throughput, {args.batch} jobs together, {args.rounds} paired rounds: ratio raw time / "
            f"comfyctl time, median {statistics.median(ratios):.3f}x (target >= 0.95x; "
            f"rounds {' '.join(f'{x:.2f}' for x in ratios)})"
        )
        per_req = per_request(url, args.requests, args.rounds, candidates)
        labels = {n: found[n][1] for n in names}
        print(transport_table(args.requests, args.rounds, per_req, jobs, labels))
    mem = memory(args.size_mb)
    print(
        f"memory, {args.size_mb} MB download (peak RSS above baseline): raw {mem['raw']:.1f} MB, "
        f"comfyctl {mem['comfyctl']:.1f} MB (target < 64 MB); control, view() into memory: "
        f"{mem['control']:.1f} MB"
    )


if __name__ == "__main__":
    main()
