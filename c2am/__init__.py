"""C2AM library: models, losses, datasets, boxes, metrics and I/O used by the pipeline stages.

Plain importable code; it never reads config.yaml or the Snakemake object.
"""

__version__ = "0.1.0"
