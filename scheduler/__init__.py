"""The query layer: jobs, stages, tasks and their execution (in-process for now; Dask to come)."""
