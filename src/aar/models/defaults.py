"""The default weak/strong pair, importable without torch (the CLI's option defaults read it)."""

DEFAULT_WEAK = "glove-50d"
DEFAULT_STRONG = "minilm-l6"
