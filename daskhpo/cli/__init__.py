"""The ``daskhpo`` command: parsing and printing only."""

from daskhpo.cli.main import main

__all__ = ["main"]
