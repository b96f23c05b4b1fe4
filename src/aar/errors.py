"""One exception type for every mistake a user can fix, so the CLI can print one line and exit non-zero."""


class AarError(Exception):
    """A user-facing error: the message names the file and line, or the argument, that is wrong."""


class NotApplicable(AarError):
    """A method cannot run on this task or backend (its formats or its need for feature vectors). Typed, so that
    the transfer gauntlet shows "n/a" rather than an error without matching message wordings."""
