"""comfyctl's MCP server (extra ``[mcp]``): every operation as a tool for agent hosts.

``comfyctl mcp`` starts it (stdio, or ``--http [HOST:]PORT`` for streamable HTTP at ``/mcp``). The
pieces: :mod:`comfyctl.mcp.runtime` (the one lazily built ``AsyncClient``), :mod:`comfyctl.mcp.tools`
(the tool bodies, SDK-free), :mod:`comfyctl.mcp.schemas` (output schemas),
:mod:`comfyctl.mcp.thumbnails` (image previews within a byte budget) and :mod:`comfyctl.mcp.server`
(registration on the SDK's ``MCPServer``). Only ``server`` imports the MCP SDK; nothing here is
imported by ``import comfyctl`` or by the other commands.
"""
