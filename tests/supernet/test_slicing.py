"""The key test of the supernet: a candidate's slice of it is the network its spec describes.

For random candidates of two spaces (drawn as a trial draws them, budget filling included), the
sliced weights loaded into `archkit.build(candidate)` give the logits the supernet gives running
that sub-network, and the slice holds as many parameters as `archkit.profile` counts.
"""

from __future__ import annotations

import random

import pytest
import torch

import archkit
from archkit.supernet import SupernetError
from archkit.supernet.candidates import candidate_spec, random_params
from archkit.supernet.elastic import ElasticNet
from archkit.supernet.plan import prefix, weighted

CANDIDATES = 6


def scrambled(plan) -> ElasticNet:
    """A supernet whose every tensor is random (biases, batch-norm scales and running statistics
    too), so a wrong slice of any of them shows in the logits."""
    net = ElasticNet(plan)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if t.is_floating_point():
                values = torch.randn(t.shape, generator=g) * 0.3
                t.copy_(values.abs() + 0.5 if name.endswith("running_var") else values)
    return net.eval()


def random_candidates(loaded, n: int, seed: int):
    rng = random.Random(seed)
    return [candidate_spec(loaded, random_params(loaded, rng), classes=loaded.base.classes) for _ in range(n)]


@pytest.fixture(scope="module")
def net_of(planned):
    return planned[0], planned[1], scrambled(planned[1])


def test_sliced_weights_in_the_built_candidate_give_the_supernets_logits(net_of):
    loaded, plan, net = net_of
    x = torch.randn(2, loaded.base.input.channels, *loaded.base.input.hw, generator=torch.Generator().manual_seed(1))
    gathered = 0
    for spec in random_candidates(loaded, CANDIDATES, seed=7):
        model = archkit.build(spec).eval()
        model.load_state_dict(net.sub_state_dict(spec), strict=True)  # every tensor the candidate has, no other
        with torch.no_grad():
            expected = model(x)
            got = net(x, spec)
        assert got.shape == (2, spec.classes)
        assert torch.allclose(got, expected, rtol=1e-5, atol=1e-5), (got - expected).abs().max()
        gathered += sum(prefix(w.inputs) is None for w in weighted(plan.program(spec)))
    # The concatenations' index lists were exercised, not only prefixes.
    assert gathered > 0


def test_slice_holds_the_parameters_the_profiler_counts(net_of):
    loaded, _, net = net_of
    for spec in random_candidates(loaded, CANDIDATES, seed=8):
        # The profiler's "paper" convention counts conv and linear weights only; "full" adds biases
        # and batch norm's scale and shift, which is what the built model holds as parameters.
        assert net.params_of(spec) == archkit.profile(spec).total.params
        built = sum(p.numel() for p in archkit.build(spec).parameters())
        assert net.params_of(spec, full=True) == archkit.profile(spec, "full").total.params == built


def test_the_sandwich_ends_are_sub_networks_too(net_of):
    loaded, plan, net = net_of
    x = torch.randn(2, loaded.base.input.channels, *loaded.base.input.hw)
    largest, smallest = plan.extreme(loaded.base, True), plan.extreme(loaded.base, False)
    assert archkit.profile(largest).total.ops > archkit.profile(smallest).total.ops
    rng = random.Random(3)
    # Each end draws a form per module where both forms of its 5x5 have weights, as in training.
    mixed = [plan.extreme(loaded.base, widest, factorize=lambda _: rng.random() < 0.5)
             for widest in (True, False) for _ in range(3)]
    for spec in (largest, smallest, *mixed):
        model = archkit.build(spec).eval()
        model.load_state_dict(net.sub_state_dict(spec), strict=True)
        with torch.no_grad():
            assert torch.allclose(net(x, spec), model(x), rtol=1e-5, atol=1e-5)
    # The largest uses every filter of every slot it runs: the whole supernet, as BigNAS trains it.
    assert net.params_of(largest) <= sum(s.weight.numel() for s in net.slots)


def test_gradients_reach_only_the_slice(net_of):
    loaded, plan, net = net_of
    spec = random_candidates(loaded, 1, seed=9)[0]
    net.zero_grad(set_to_none=True)
    net.train()
    try:
        net(torch.randn(2, loaded.base.input.channels, *loaded.base.input.hw), spec).sum().backward()
    finally:
        net.eval()
    for w in weighted(plan.program(spec)):
        grad = net.slot(w.slot).weight.grad
        assert grad is not None
        assert grad[w.out:].abs().sum() == 0  # filters past the candidate's k are untouched
        assert grad[:w.out].abs().sum() > 0
    net.zero_grad(set_to_none=True)


def test_random_candidates_fit_in_the_plan_of_the_corners(planned):
    # The plan is sized on the space's corners alone here; every random candidate must fit in it.
    loaded, plan = planned
    for spec in random_candidates(loaded, 40, seed=10):
        plan.program(spec)


def test_a_candidate_of_a_larger_budget_is_refused(planned):
    from .conftest import load

    loaded, plan = planned
    bigger = load(loaded.path.name, "2M")
    specs = random_candidates(bigger, 3, seed=11)
    with pytest.raises(SupernetError, match="outside the supernet"):
        for spec in specs:
            plan.program(spec)


def test_factorized_and_plain_5x5_have_their_own_weights():
    from archkit.supernet import plan_for

    from .conftest import load

    loaded = load("demo.yaml")
    plan = plan_for(loaded, classes=10, samples=0)
    for module in ("inception3a", "inception4e", "inception5b"):
        branch = f"{module}.branches.branch_5x5"
        assert f"{branch}.1#5x5" in plan.slots and f"{branch}.1#3x3" in plan.slots and f"{branch}.2#3x3" in plan.slots
        assert f"{branch}.0#1x1" in plan.slots  # the reduce in front of either form is one slot
