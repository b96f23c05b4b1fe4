"""``python -m aar.cli``: how the orchestrator and the tests start the CLI with this interpreter."""

from aar.cli import main

main()
