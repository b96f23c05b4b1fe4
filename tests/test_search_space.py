"""The heuristic researcher's beliefs and screens (``aar.researchers.search_space``, ``heuristic``), and the
label-free screening signals the server computes for every experiment."""

from __future__ import annotations

import numpy as np

from aar.execution.experiment import screening_signals
from aar.researchers.heuristic import TaskState, method_file, screen
from aar.researchers.search_space import (
    GEOMETRY,
    Beliefs,
    Candidate,
    all_candidates,
    direction_prior,
    expected_improvement,
    from_params,
)


def test_candidates_map_to_recipe_parameters_and_back() -> None:
    cand = Candidate("chat", "recipe", {"oof": "filter", "keep": 0.6, "ensemble": 3})
    params = cand.params()
    assert params == {"oof_folds": 4, "oof_mode": "filter", "keep": 0.6, "ensemble": 3}
    again = from_params("chat", "recipe", params, "forum:3")
    assert again is not None and again.key == cand.key and again.source == "forum:3"
    assert from_params("chat", "recipe", {"keep": 0.33}, "forum:4") is None  # outside the searched levels
    assert from_params("chat", "soft", {}, "forum:5") is None and from_params("chat", "ccs", {}, "x").method == "ccs"
    space = all_candidates("math", pair_task=False)
    assert all(c.fits() <= 10 for c in space) and not any(c.method == "ccs" for c in space)
    assert len({c.key for c in space}) == len(space) > 50 and any(c.method == "knn_consistency" for c in space)


def test_beliefs_learn_a_component_from_noisy_evaluations() -> None:
    """Two evaluations with a component on (gain 0.3 each) move its predicted gain toward 0.3, shrink its
    uncertainty, and leave a component never tried at the prior; a noisier task learns less from the same."""
    prior = np.zeros(len(direction_prior("")))
    on, other = Candidate("t", "recipe", {"keep": 0.6}), Candidate("t", "recipe", {"ensemble": 3})
    quiet, noisy = Beliefs(prior, noise_sd=0.1), Beliefs(prior, noise_sd=0.3)
    for beliefs in (quiet, noisy):
        for _ in range(2):
            beliefs.observe(on, 0.3)
    (m_on, m_other), (s_on, s_other) = quiet.predict([on, other])
    assert 0.2 < m_on < 0.3 and abs(m_other) < 1e-9 and s_on < s_other
    assert noisy.predict([on])[0][0] < m_on
    assert direction_prior("filter the noisy labels").max() > 0 == direction_prior("look around").max()
    ei = expected_improvement(np.array([0.0, 0.1, 0.1]), np.array([0.1, 0.1, 0.3]), best=0.05)
    assert ei[1] > ei[0] and ei[2] > ei[1] and (ei > 0).all()  # higher mean or more uncertainty: more value


def test_screening_signals_see_instability_collapse_and_copying() -> None:
    rng = np.random.default_rng(0)
    teacher = rng.random(400)
    copy = np.stack([teacher, teacher])
    s = screening_signals(copy, teacher)
    assert s["teacher_agreement"] == 1.0 == s["seed_agreement"] and s["confident_teacher_agreement"] == 1.0
    unstable = np.stack([rng.random(400), rng.random(400)])
    assert screening_signals(unstable, teacher)["seed_agreement"] < 0.6
    collapsed = np.full((2, 400), 0.9)
    c = screening_signals(collapsed, teacher)
    assert c["positive_rate"] == 1.0 and abs(c["teacher_positive_rate"] - 0.5) < 0.1 and c["mean_entropy_bits"] < 0.5
    inverted = 1 - copy
    assert screening_signals(inverted, teacher)["confident_teacher_agreement"] == 0.0
    anchor = s
    assert screen(s, anchor) == ""
    assert "unstable" in screen(screening_signals(unstable, teacher), anchor)
    assert "balance" in screen(c, anchor) and "overrides" in screen(screening_signals(inverted, teacher), anchor)


def test_method_files_are_real_methods_with_the_candidates_parameters(tmp_path) -> None:
    from aar.methods.registry import get_method

    for cand, base in [(Candidate("chat", "recipe", {"oof": "relabel", "self_train": 1}), "Recipe"),
                       (Candidate("chat", "recipe"), "Vanilla"), (Candidate("chat", "knn_consistency"),
                                                                  "KnnConsistency")]:
        path = tmp_path / f"m{len(list(tmp_path.iterdir()))}.py"
        path.write_text(method_file(cand, "Best"))
        cls = get_method(f"{path}:Best")
        assert cls.__mro__[1].__name__ == base
        assert {k: cls.defaults[k] for k in cand.params()} == cand.params()
    assert GEOMETRY["knn_consistency"] == Candidate("t", "knn_consistency").params()
    state = TaskState("chat", "pair", 0.2, [Candidate("chat", "recipe", pgr=0.4),
                                           Candidate("chat", "recipe", {"keep": 0.6}, signals={"a": 1.0})])
    assert [c.key for c in state.ready()] == ['recipe:{"keep": 0.6}'] and len(state.evaluated()) == 1


def _task_info(noise_sd: float):
    """The part of a task's public description the heuristic researcher plans with (format, dev noise)."""
    from aar.results.api import DevRule, TaskInfo

    return TaskInfo.model_construct(format="pair", dev_rule=DevRule.model_construct(noise_sd=noise_sd))


def test_directions_and_seeds_lead_researchers_to_different_first_candidates() -> None:
    """Four researchers with the same evidence (vanilla evaluated) but their own directions and seeds do not
    all propose the same next experiment: diverse directions give diverse trajectories."""
    from aar.researchers.heuristic import HeuristicResearcher

    info = {"chat": _task_info(0.21)}
    picks = set()
    for seed, direction in enumerate(["filter the noisy labels", "self-training on the pool",
                                      "ensembles and distillation", "find the model's own consistency"]):
        researcher = HeuristicResearcher(info, direction, dev_evals=8, seed=seed)
        state = researcher.tasks[0]
        state.candidates.append(Candidate("chat", "recipe", pgr=0.3, predictions_path="x", signals={"a": 1.0}))
        state.anchor_pgr = 0.3
        value, cand = researcher._value(state)
        assert value > 0 and cand is not None and cand.pgr is None
        picks.add(cand.key)
    assert len(picks) >= 3


def test_the_researcher_never_submits_vanilla_itself_when_it_evaluated_anything_else() -> None:
    """Vanilla's own submission is p = 1 against vanilla by construction and shows nothing, yet takes a place in
    the campaign's Holm family: with vanilla best on dev, the choice is still the best other evaluated candidate."""
    from aar.researchers.heuristic import HeuristicResearcher

    researcher = HeuristicResearcher({"chat": _task_info(0.1)}, "filters", 4)
    state = researcher.tasks[0]
    state.anchor_pgr = 0.5
    state.candidates += [Candidate("chat", "recipe", pgr=0.5), Candidate("chat", "recipe", {"keep": 0.6}, pgr=0.2),
                         Candidate("chat", "recipe", {"ensemble": 3}, pgr=0.4)]
    assert researcher._choice(state).components == {"ensemble": 3}
    state.candidates = state.candidates[:1]  # vanilla alone: submitted as the researcher's answer
    assert researcher._choice(state).components == {}
