"""The one order of verified submissions: best server-verified test PGR first, ties to the earlier submission.

Results, the transfer gauntlet, the integrity ablations and the leaderboard all pick "the best" submission;
two researchers that copy the same config tie exactly, and each place breaking the tie its own way once made
the campaign's best and the gauntlet's entrant different submissions.
"""

from __future__ import annotations


def rank_key(pgr_mean: float | None, submission_id: int) -> tuple[float, int]:
    """Sort key: ascending order is best first. A missing PGR (a zero-gap task) ranks last."""
    return (-(pgr_mean if pgr_mean is not None else float("-inf")), submission_id)
