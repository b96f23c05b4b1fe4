"""Research integrity: detectors of evaluation gaming over the evaluation log, submissions, the method
sandbox's audit log and transcripts; findings are stored with their evidence and flagged submissions are
quarantined until an admin reviews them (``aar integrity scan|review``)."""
