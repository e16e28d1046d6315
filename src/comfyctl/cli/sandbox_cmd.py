"""``comfyctl sandbox``: serve the ComfyUI double until Ctrl-C.

aiohttp and Pillow are imported inside the command, so ``comfyctl --help`` stays fast.
"""

from __future__ import annotations

import signal
import threading
from typing import NoReturn

import click

from comfyctl.errors import UsageError


@click.command("sandbox")
@click.option("--port", type=int, default=8188, show_default=True, help="TCP port (0 picks a free one).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--root",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder for input/, output/, temp/, models/ (default: a temporary folder).",
)
@click.option(
    "--object-info",
    "object_info",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="A saved /object_info JSON to serve instead of the bundled ComfyUI 0.8.0 snapshot.",
)
@click.option("--token", default=None, help="Require 'Authorization: Bearer TOKEN' on every request.")
def sandbox(port: int, host: str, root: str | None, object_info: str | None, token: str | None) -> None:
    """Run a protocol-faithful ComfyUI 0.8.0 double (no GPU, no models) until Ctrl-C.

    Example: comfyctl sandbox --port 8189 --root ./sandbox
    """
    from comfyctl.testing.sandbox import Sandbox

    sb = Sandbox(port=port, root=root, object_info=object_info, token=token, host=host)
    try:
        sb.start()
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="pick another --port (0 chooses a free one)",
            details={"host": host, "port": port},
        ) from exc
    # SIGTERM ends the command like Ctrl-C, so the temporary root is removed either way.
    signal.signal(signal.SIGTERM, lambda *_: _raise_interrupt())
    click.echo(sb.url)
    click.echo(f"serving ComfyUI 0.8.0 sandbox (root {sb.root}); Ctrl-C to stop", err=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sb.stop()


def _raise_interrupt() -> NoReturn:
    raise KeyboardInterrupt
