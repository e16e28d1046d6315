"""Workflow benchmark: convert (UI→API) and validate every ui2api fixture, against a baseline.

For each of the shared ``ui2api`` fixtures it times, interleaved over several rounds, the baseline
``json.loads`` + ``copy.deepcopy`` of the same file, and ``json.loads`` + ``to_api`` + ``validate``.
It prints the median milliseconds of each and their ratio per workflow, then the same for a
synthetic 50-node chain (target: well under 10 ms). Node definitions are parsed once, outside the
timings (a client caches them).

Run: ``.venv/bin/python bench/bench_workflow.py [--rounds N] [--fixtures DIR]``.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from comfyctl.nodedefs import NodeDefs
from comfyctl.workflow.convert import to_api

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FIXTURES = ROOT / "tests" / "data" / "fixtures"


def _validator() -> Callable[[dict[str, Any], NodeDefs], Any] | None:
    try:
        from comfyctl.workflow.validate import validate
    except Exception as exc:  # validation missing or broken in this checkout: bench conversion alone
        print(f"(validate unavailable: {type(exc).__name__}: {exc})", file=sys.stderr)
        return None
    return validate


def chain_of(n: int) -> dict[str, Any]:
    """A UI graph: EmptyImage → (n-2) × ImageBlur → SaveImage, every widget set."""
    nodes: list[dict[str, Any]] = [
        {
            "id": 1,
            "type": "EmptyImage",
            "mode": 0,
            "inputs": [],
            "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [1]}],
            "widgets_values": [64, 64, 1, 0],
        },
    ]
    links: list[list[Any]] = []
    for i in range(2, n):
        nodes.append(
            {
                "id": i,
                "type": "ImageBlur",
                "mode": 0,
                "inputs": [{"name": "image", "type": "IMAGE", "link": i - 1}],
                "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [i]}],
                "widgets_values": [1, 1.0],
            }
        )
        links.append([i - 1, i - 1, 0, i, 0, "IMAGE"])
    nodes.append(
        {
            "id": n,
            "type": "SaveImage",
            "mode": 0,
            "inputs": [{"name": "images", "type": "IMAGE", "link": n - 1}],
            "outputs": [],
            "widgets_values": ["bench"],
        }
    )
    links.append([n - 1, n - 1, 0, n, 0, "IMAGE"])
    return {"nodes": nodes, "links": links, "version": 0.4}


def median_ms(fn: Callable[[], Any], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES)
    args = parser.parse_args()
    defs = NodeDefs(json.loads((args.fixtures / "object_info.json").read_text()))
    validate = _validator()
    index = json.loads((args.fixtures / "ui2api" / "index.json").read_text())["entries"]
    cases = {e["name"]: (args.fixtures / "ui2api" / e["ui_file"]).read_text() for e in index if e["api_file"]}
    cases["synthetic 50-node chain"] = json.dumps(chain_of(50))

    def ours(text: str) -> None:
        api = to_api(json.loads(text), defs)
        if validate is not None:
            validate(api, defs)

    def baseline(text: str) -> None:
        copy.deepcopy(json.loads(text))

    for text in cases.values():  # warm caches (lazy NodeDef parsing) once
        ours(text)
    header = f"{'workflow':48} {'nodes':>5} {'baseline ms':>12} {'convert+validate ms':>20} {'ratio':>7}"
    print(header + ("" if validate else "   (validate.py missing: convert only)"))
    ratios = []
    for name, text in cases.items():
        nodes = len(json.loads(text)["nodes"])
        base_s, ours_s = [], []
        for _ in range(args.rounds):  # interleave so machine load hits both alike
            base_s.append(median_ms(lambda t=text: baseline(t), 1))
            ours_s.append(median_ms(lambda t=text: ours(t), 1))
        base, ours_ms = statistics.median(base_s), statistics.median(ours_s)
        ratios.append(ours_ms / base if base else float("inf"))
        print(f"{name[:48]:48} {nodes:5d} {base:12.3f} {ours_ms:20.3f} {ratios[-1]:7.1f}x")
    print(f"median ratio {statistics.median(ratios):.1f}x over {len(ratios)} workflows")
    chain = cases["synthetic 50-node chain"]
    chain_ms = median_ms(lambda: ours(chain), args.rounds)
    print(f"50-node graph: {chain_ms:.2f} ms convert+validate (target < 10 ms)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
