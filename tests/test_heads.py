import numpy as np
import pytest

from aar.errors import AarError
from aar.models.heads import HeadConfig, LossConfig, fit_head


def _data(n: int = 600, d: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.float32)
    return x, y


def test_linear_head_learns_a_separable_rule() -> None:
    x, y = _data()
    head = fit_head(x[:400], y[:400], seed=0)
    assert ((head.predict_proba(x[400:]) > 0.5) == y[400:]).mean() > 0.9


def test_antisymmetric_head_flips_exactly_when_pair_is_swapped() -> None:
    x, y = _data()
    for hidden in (0, 16):
        head = fit_head(x, y, seed=1, antisymmetric=True, config=HeadConfig(hidden=hidden, epochs=5))
        np.testing.assert_allclose(head.predict_proba(-x), 1 - head.predict_proba(x), atol=1e-6)


def test_seeds_change_the_fit_and_same_seed_reproduces() -> None:
    x, y = _data()
    a, b, c = (fit_head(x, y, seed=s, config=HeadConfig(epochs=3)).predict_proba(x) for s in (0, 0, 1))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_aux_confidence_loss_trains_and_differs_from_plain_ce() -> None:
    x, y = _data()
    noisy = y.copy()
    noisy[:150] = 1 - noisy[:150]
    plain = fit_head(x, noisy, seed=0).predict_proba(x)
    aux = fit_head(x, noisy, seed=0, loss=LossConfig(kind="aux_conf")).predict_proba(x)
    assert not np.allclose(plain, aux)
    assert ((aux > 0.5) == y).mean() > 0.7  # still learns the rule through 25% label noise


@pytest.mark.parametrize("targets", [np.full(10, 1.5), np.full(10, np.nan), np.ones(9)])
def test_bad_targets_are_rejected(targets: np.ndarray) -> None:
    with pytest.raises(AarError):
        fit_head(np.zeros((10, 3), np.float32), targets, seed=0)


def test_unknown_loss_is_rejected() -> None:
    x, y = _data(50)
    with pytest.raises(AarError, match="unknown loss"):
        fit_head(x, y, seed=0, loss=LossConfig(kind="hinge"))


def test_l2_penalty_matches_scikit_learn_c() -> None:
    """``c`` is scikit-learn's C: the same strongly regularised probe, whatever the training set's size."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    x = rng.normal(size=(600, 20))
    y = (x[:, :3].sum(1) + rng.normal(scale=2.0, size=600) > 0).astype(np.float32)
    xs = (x - x.mean(0)) / x.std(0)
    for c, epochs in ((0.001, 60), (0.1, 200)):  # a weaker penalty needs longer to converge
        ours = fit_head(x, y, seed=0, config=HeadConfig(c=c, epochs=epochs, lr=0.003)).predict_proba(x)
        ref = LogisticRegression(C=c, max_iter=5000).fit(xs, y).predict_proba(xs)[:, 1]
        assert np.abs(ours - ref).max() < 0.03, c
    strong = fit_head(x, y, seed=0, config=HeadConfig(c=0.001, epochs=60, lr=0.003))
    weak = fit_head(x, y, seed=0, config=HeadConfig(c=0.1, epochs=60, lr=0.003))
    assert np.linalg.norm(strong.net.weight.detach().numpy()) < np.linalg.norm(weak.net.weight.detach().numpy())


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_our_adamw_makes_torchs_update_bit_for_bit(weight_decay: float) -> None:
    """The written-out AdamW (it spares every sandboxed child torch.optim's import of torch._dynamo) moves an
    MLP exactly as torch.optim.AdamW does, over minibatch steps, with a parameter that sometimes gets no
    gradient (its step count must not advance then)."""
    import torch

    from aar.models.heads import AdamW

    x, y = (torch.from_numpy(a) for a in _data(200, 8))
    nets = []
    for _ in range(2):
        torch.manual_seed(3)
        nets.append(torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 1)))
    extra = [torch.zeros(1, requires_grad=True) for _ in range(2)]  # used on even steps only
    ours = AdamW([*nets[0].parameters(), extra[0]], lr=0.01, weight_decay=weight_decay)
    theirs = torch.optim.AdamW([*nets[1].parameters(), extra[1]], lr=0.01, weight_decay=weight_decay)
    for step in range(60):
        rows = slice((step * 32) % 192, (step * 32) % 192 + 32)
        for net, bias, opt in ((nets[0], extra[0], ours), (nets[1], extra[1], theirs)):
            logit = net(x[rows]).squeeze(-1) + (bias if step % 2 == 0 else 0)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logit, y[rows])
            opt.zero_grad()
            loss.backward()
            opt.step()
    for a, b in zip([*nets[0].parameters(), extra[0]], [*nets[1].parameters(), extra[1]], strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(extra[0], torch.zeros(1))  # it did move
