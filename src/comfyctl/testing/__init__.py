"""The sandbox: a protocol-faithful ComfyUI double for tests (aiohttp + Pillow)."""
