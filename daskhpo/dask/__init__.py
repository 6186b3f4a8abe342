"""Execution on Dask: the backend, cluster start-up, GPU pinning and the worker side.

This folder is the only part of daskhpo that imports ``distributed``. Its package modules are
light: importing ``daskhpo.dask`` (or the pure ``daskhpo.dask.gpus``) loads no Dask module.
"""
