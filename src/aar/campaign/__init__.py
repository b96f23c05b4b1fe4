"""Campaigns: many researchers, one server, a budget, an honest final score."""
