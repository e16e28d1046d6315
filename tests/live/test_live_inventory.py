"""Live: inventory, check, offline submit and doctor against a real ComfyUI (``COMFYUI_URL``).

``COMFYUI_LIVE_DIR`` (optional) names that server's folder on disk: the offline scan of it must
then agree with the online inventory.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from comfyctl.client import Client
from comfyctl.inventory import check_workflow, get_inventory, load_node_defs, scan
from comfyctl.offline import OfflineStore

pytestmark = pytest.mark.live

#: Read at import, before the autouse fixture cleans COMFYUI_* variables.
LIVE_DIR = os.environ.get("COMFYUI_LIVE_DIR")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TINY = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": 0}},
    "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
}


def test_live_inventory_round_trip(live_url: str, tmp_path: Path) -> None:
    state = tmp_path / "state"
    with Client(live_url) as client:
        inv = get_inventory(client, state=state)
        stats = client.system_stats()
        assert inv.mode == "online" and inv.comfyui_version == stats.comfyui_version
        assert set(inv.nodes) == set(client.object_info())
        assert set(inv.models) == set(client.models()) - {"custom_nodes"}
        assert inv.models["configs"] == tuple(client.models("configs"))
        assert [d["name"] for d in inv.devices] == [d.name for d in stats.devices]
        again = get_inventory(client, state=state)
        assert again.created == inv.created  # served from the cache
        assert load_node_defs(client, state=state)["KSampler"].python_module == "nodes"
        report = check_workflow(TINY, inv)
        assert report.ok
        missing = check_workflow(
            {
                "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "nope_xl.safetensors"}},
                "2": {"class_type": "VHS_VideoCombine", "inputs": {}},
            },
            inv,
        )
        assert {(p.kind, p.folder or p.package) for p in missing.problems} >= {
            ("missing_model", "checkpoints"),
            ("missing_node", "ComfyUI-VideoHelperSuite"),
        }
    if LIVE_DIR:
        offline = scan(LIVE_DIR)
        assert offline.comfyui_version == inv.comfyui_version
        assert {k: v for k, v in offline.models.items() if k in inv.models} == dict(inv.models)
        custom = {c: m for c, m in inv.nodes.items() if m.startswith("custom_nodes.")}
        assert offline.nodes == custom


def test_live_offline_submit_exactly_once(live_url: str, tmp_path: Path) -> None:
    store = OfflineStore(tmp_path)
    store.export(TINY, name="live-a")
    store.export(TINY, name="live-b")
    with Client(live_url) as client:
        done = store.submit(client)
        assert [d.status for d in done] == ["submitted", "submitted"]
        for d in done:
            result = client.attach(d.prompt_id).wait(timeout=120)
            assert result.status == "success"
        assert store.submit(client) == []
        # each one by id: other users of a shared server add to the newest 50 too
        assert all(client.history_entry(d.prompt_id) is not None for d in done)


def test_live_cli_doctor_and_check(live_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_cli_support import invoke

    monkeypatch.chdir(tmp_path)
    assert invoke("inventory", url=live_url).code == 0
    doctor = invoke("doctor", "--json", url=live_url)
    assert doctor.code == 0, doctor.stderr
    doc: dict[str, Any] = doctor.json()
    assert doc["verdict"] in ("healthy", "degraded")
    wf = tmp_path / "tiny.json"
    wf.write_text(json.dumps(TINY))
    assert invoke("check", wf, url=live_url).code == 0
