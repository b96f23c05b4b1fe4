"""One exception type for every mistake a user can fix, so the CLI can print one line and exit non-zero."""


class AarError(Exception):
    """A user-facing error: the message names the file and line, or the argument, that is wrong."""
