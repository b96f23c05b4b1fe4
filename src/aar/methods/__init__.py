"""Methods: the plugin interface and the built-in W2S baselines."""

from aar.methods.base import Method, MethodContext, Predictor
from aar.methods.registry import available, get_method, register

__all__ = ["Method", "MethodContext", "Predictor", "available", "get_method", "register"]
