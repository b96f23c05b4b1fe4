import numpy as np

from aar.methods.base import Method


class Debias(Method):
    """Question-debiasing: the teacher's logit minus its cross-fitted ridge prediction from the strong question
    embedding (what the question alone predicts), then the student fits the residual's sign."""
    name = "debias"
    defaults = {"folds": 5, "ridge": 10.0}

    def train(self, ctx):
        p = np.clip(ctx.weak_soft, 1e-4, 1 - 1e-4)
        logit = np.log(p / (1 - p))
        q = ctx.strong_views.get("question", ctx.strong_x)
        q = np.hstack([q, np.ones((len(q), 1))])
        folds = ctx.rng().integers(0, ctx.params["folds"], len(q))
        pred = np.zeros(len(q))
        for k in range(ctx.params["folds"]):
            tr, te = folds != k, folds == k
            a = q[tr]
            w = np.linalg.solve(a.T @ a + ctx.params["ridge"] * np.eye(a.shape[1]), a.T @ logit[tr])
            pred[te] = q[te] @ w
        resid = logit - pred
        return ctx.fit(1 / (1 + np.exp(-resid)))
