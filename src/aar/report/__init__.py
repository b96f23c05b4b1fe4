"""Campaign reports: a self-contained HTML file and a Rich terminal summary."""
