"""Hyperband: successive halving hedged over several early-stopping rates.

* :class:`HyperbandScheduler` runs the synchronous brackets of Li et al. (2018) one after
  the other, most aggressive first, and starts over while new trials are allowed.
* :class:`AsyncHyperbandScheduler` runs several ASHA brackets side by side; bracket ``e``
  has its first rung at ``min_resource * eta**e``. A new trial joins bracket ``e`` with
  probability proportional to the number of configurations the matching synchronous
  bracket starts, so the mix of early-stopping rates is the paper's. The draw uses the
  scheduler's seeded generator.
"""

from __future__ import annotations

import bisect

import numpy as np

from daskhpo.schedulers._rungs import (
    Bracket,
    check_int,
    check_min_resource,
    check_number,
    check_rung_params,
    hyperband_table,
    max_bracket_index,
    rung_levels,
)
from daskhpo.schedulers.asha import ASHAScheduler
from daskhpo.schedulers.sha import SuccessiveHalvingScheduler

__all__ = ["AsyncHyperbandScheduler", "Bracket", "HyperbandScheduler", "hyperband_brackets"]


def hyperband_brackets(
    max_resource: float, reduction_factor: float = 3, min_resource: float = 1
) -> list[Bracket]:
    """The (n_i, r_i) table of Hyperband, most aggressive bracket first.

    ``hyperband_brackets(81, 3)`` is Table 1 of Li et al. (2018): five brackets from
    ``s = 4`` (81 configurations at resource 1, down to 1 at 81) to ``s = 0`` (5 at 81).
    """
    low = check_number("min_resource", min_resource)
    top, eta = check_rung_params(
        min_resource=low, max_resource=max_resource, reduction_factor=reduction_factor
    )
    return hyperband_table(top, eta, low)


class HyperbandScheduler(SuccessiveHalvingScheduler):
    """Synchronous Hyperband: the brackets of :func:`hyperband_brackets`, in turn."""

    def __init__(
        self,
        *,
        max_resource: float,
        resource: str | None = None,
        min_resource: float | None = None,
        grace_period: float | None = None,
        reduction_factor: float = 3,
    ) -> None:
        super().__init__(
            max_resource=max_resource,
            resource=resource,
            min_resource=min_resource,
            grace_period=grace_period,
            reduction_factor=reduction_factor,
        )
        self.table = hyperband_table(self.max_resource, self.reduction_factor, self.min_resource)

    def bracket_plan(self, index: int) -> tuple[tuple[int, float], ...]:
        return self.table[index % len(self.table)].rungs


class AsyncHyperbandScheduler(ASHAScheduler):
    """Asynchronous Hyperband: ``brackets`` ASHA brackets (default: all ``s_max + 1``)."""

    def __init__(
        self,
        *,
        max_resource: float,
        resource: str | None = None,
        min_resource: float | None = None,
        grace_period: float | None = None,
        reduction_factor: float = 3,
        variant: str = "stopping",
        brackets: int | None = None,
    ) -> None:
        low = check_min_resource(min_resource, grace_period)
        top, eta = check_rung_params(
            min_resource=low, max_resource=max_resource, reduction_factor=reduction_factor
        )
        most = max_bracket_index(top, eta, low) + 1
        self.num_brackets = most if brackets is None else check_int("brackets", brackets)
        if self.num_brackets > most:
            raise ValueError(
                f"brackets={brackets!r} is more than the {most} early-stopping rates that "
                f"fit between min_resource={low:g} and max_resource={top:g} with "
                f"reduction_factor={eta:g}; use at most {most}"
            )
        table = hyperband_table(top, eta, low)
        weights = np.array([table[e].rungs[0][0] for e in range(self.num_brackets)], dtype=float)
        probabilities = weights / weights.sum()
        self.bracket_probabilities: list[float] = probabilities.tolist()
        # What Generator.choice(n, p=...) searches one uniform draw in, built once.
        cdf = probabilities.cumsum()
        self._bracket_cdf: list[float] = (cdf / cdf[-1]).tolist()
        super().__init__(
            max_resource=max_resource,
            resource=resource,
            min_resource=min_resource,
            grace_period=grace_period,
            reduction_factor=reduction_factor,
            variant=variant,
        )

    def _bracket_levels(self) -> list[list[float]]:
        eta = self.reduction_factor
        return [
            rung_levels(self.min_resource * eta**e, self.max_resource, eta)
            for e in range(self.num_brackets)
        ]

    def _choose_bracket(self) -> int:
        """``rng.choice(num_brackets, p=bracket_probabilities)``: the same draw and the same
        answer (one uniform, searched in the cumulative weights), without its per-call checks."""
        return bisect.bisect_right(self._bracket_cdf, self.rng.random())

    def bracket_of(self, trial_id: int) -> int | None:
        """The bracket a trial was assigned to."""
        return self._bracket_of.get(trial_id)
