"""Method sources that tests submit as snapshots: an honest teacher-trusting student, one that fails, and the
planted shapes of attribution (zero-shot anchors, a distilled text reader)."""

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

# zero-shot anchors: the strong encoder's sentiment direction from sentences the researcher wrote; the teacher
# only decides where to train
ANCHORS = '''
import numpy as np
from aar.methods.base import Method
from aar.models.encoders import get_encoder

GOOD = ["a great film, moving and beautifully made", "a wonderful, funny and touching movie",
        "one of the best films of the year", "brilliant acting and a smart script"]
BAD = ["a terrible film, boring and badly made", "an awful, dull and tedious movie",
       "one of the worst films of the year", "wooden acting and a stupid script"]


class Anchors(Method):
    name = "anchors"

    def train(self, ctx):
        enc = get_encoder("minilm-l6")
        d = enc.encode(GOOD).mean(0) - enc.encode(BAD).mean(0)
        score = (ctx.strong_views["first"] - ctx.strong_views["second"]) @ d
        zs = (score > 0).astype(np.float32)
        rows = np.flatnonzero(zs == (ctx.weak_soft > 0.5))
        return ctx.fit(zs[rows], rows=rows)
'''
# a hand-written reader of the raw text, distilled into the student: the description's words in the program
READER = '''
import re
import numpy as np
from aar.methods.base import Method


class Reader(Method):
    name = "reader"

    def train(self, ctx):
        def overlap(e):
            q = set(re.findall(r"[a-z]{4,}", e.inputs["question"].lower()))
            c = set(re.findall(r"[a-z]{4,}", e.inputs["choice"].lower()))
            return len(q & c) / (len(q) + 1)
        s = np.array([overlap(e) for e in ctx.unlabeled])
        return ctx.fit((s > np.median(s)).astype(np.float32))
'''
