"""Method sources that tests submit as snapshots: an honest teacher-trusting student and one that fails."""

TRUSTING = '''
from aar.methods.base import Method


class Trusting(Method):
    """Student trained on the teacher's soft labels, optionally sharpened."""
    name = "trusting"
    defaults = {"temperature": 1.0}

    def train(self, ctx):
        import numpy as np
        p = np.clip(ctx.weak_soft, 1e-4, 1 - 1e-4)
        logit = np.log(p / (1 - p)) / ctx.params["temperature"]
        return ctx.fit(1 / (1 + np.exp(-logit)))
'''

BROKEN = '''
from aar.methods.base import Method


class Broken(Method):
    name = "broken"

    def train(self, ctx):
        raise ValueError("my bug at step 3")
'''
