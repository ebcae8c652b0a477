"""Where the heavy work runs: in this process, or on a Dask cluster (chosen by settings)."""
