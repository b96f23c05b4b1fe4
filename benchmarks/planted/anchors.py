import numpy as np

from aar.methods.base import Method
from aar.models.encoders import get_encoder

GOOD = ["a great film, moving and beautifully made", "a wonderful, funny and touching movie",
        "one of the best films of the year", "brilliant acting and a smart script",
        "a delightful, charming picture", "an excellent and memorable film", "superb, gripping and heartfelt",
        "a masterpiece of modern cinema"]
BAD = ["a terrible film, boring and badly made", "an awful, dull and tedious movie",
       "one of the worst films of the year", "wooden acting and a stupid script", "a tiresome, lifeless picture",
       "a dreadful and forgettable film", "clumsy, flat and pointless", "a disaster from start to finish"]


class Anchors(Method):
    """Zero-shot sentiment anchors: the strong encoder's direction from researcher-written sentences; train
    only where the teacher agrees with it."""
    name = "anchors"

    def train(self, ctx):
        enc = get_encoder("minilm-l6")
        d = enc.encode(GOOD).mean(0) - enc.encode(BAD).mean(0)
        views = ctx.strong_views
        first, second = views["first"], views["second"]
        score = (first - second) @ d
        zs = 1 / (1 + np.exp(-score / (score.std() + 1e-9) * 2))
        agree = (zs > 0.5) == (ctx.weak_soft > 0.5)
        rows = np.flatnonzero(agree)
        return ctx.fit((zs[rows] > 0.5).astype(float), rows=rows)
