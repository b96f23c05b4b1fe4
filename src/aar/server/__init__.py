"""Evaluation server: labels stay here; agents get budgeted, rounded dev scores; every query is logged."""
