"""The query layer on Dask: jobs, stages and tasks, map output locations, retries, progress, clusters.

Dask provides processes, placement and transport; everything about queries is here. Engine
modules (``gpu_exec.*`` except the facade) never import this package; the session and the command
line reach into it lazily, so the in-process engine runs without Dask installed.
"""
