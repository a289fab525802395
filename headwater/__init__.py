"""headwater: flows of Python tasks on Dask, with the semantics of Prefect Core 1."""
