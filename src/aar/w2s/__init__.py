"""The W2S pipeline: teacher, soft labels, student via a method, ceiling, cached artifacts."""

from aar.w2s.pipeline import RunResult, Testbed, TestbedConfig

__all__ = ["RunResult", "Testbed", "TestbedConfig"]
