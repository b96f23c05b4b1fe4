"""The default weak/strong pair per task, importable without torch (the CLI's option defaults read it).

Chosen by measurement (README, "Testbed"). The strong default is MiniLM-L6 with a strongly regularised linear
probe, except on ``math``: sentence embeddings blur the numbers that task turns on, so a linear MiniLM student
(with or without GloVe features, C 0.001 to 0.003) lands *below* its GloVe teacher (ceiling 0.57 vs weak 0.61)
and PGR is undefined. There the student reads MiniLM and GloVe through an MLP (ceiling 0.78): a defined gap,
with vanilla PGR about 0 (no weak-to-strong generalisation for vanilla to show; the headroom is for methods).
"""

DEFAULT_WEAK = "glove-50d"
DEFAULT_STRONG = "minilm-l6"
STRONG_BY_TASK: dict[str, str] = {"math": "minilm-glove-mlp"}


def default_strong(task: str) -> str:
    return STRONG_BY_TASK.get(task, DEFAULT_STRONG)
