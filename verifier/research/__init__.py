"""The research harness: run every (program, domain, repeat) task in its own worker process
with its own limits, locally or on a Dask cluster, stream the results into a file, and report
(see docs/research.md)."""
