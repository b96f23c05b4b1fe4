"""Statistics: PGR with hierarchical bootstrap CIs and paired tests against a baseline."""

from aar.stats.bootstrap import Interval, PairedTest, PGRSummary, paired_test, pgr_summary

__all__ = ["Interval", "PGRSummary", "PairedTest", "paired_test", "pgr_summary"]
