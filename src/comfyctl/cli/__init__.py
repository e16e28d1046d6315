"""The ``comfyctl`` command line (Click). Imported only by the console script."""
