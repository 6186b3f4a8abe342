"""What runs inside a Dask worker process: ``report()``, checkpoints, trial events, lifetimes.

Workers import only this folder (and ``daskhpo.dask.gpus``), never the driver's modules.
"""
