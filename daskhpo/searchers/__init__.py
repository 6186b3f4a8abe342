"""Searchers decide which configuration to try next."""

from daskhpo.searchers.base import Searcher
from daskhpo.searchers.grid import GridSearcher
from daskhpo.searchers.optuna import OptunaSearcher
from daskhpo.searchers.random import RandomSearcher

__all__ = ["GridSearcher", "OptunaSearcher", "RandomSearcher", "Searcher"]
