"""pytest plugin: the ``sandbox`` fixture (filled in by the sandbox work)."""
