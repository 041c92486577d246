"""LARS (engine/embed/lars.py) against a step written out by hand, tensor by tensor, in numpy."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from engine.embed.lars import LARS, lars_param_groups
from engine.training import init_parameters, make_generator

LR, MOMENTUM, WD, ETA = 0.5, 0.9, 1e-2, 0.02


def model() -> nn.Module:
    return init_parameters(nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2)),
                           make_generator(0))


def reference_steps(params: list[np.ndarray], grads: list[list[np.ndarray]]) -> list[np.ndarray]:
    """The formula, one tensor at a time: ≥2-D tensors get weight decay and the trust ratio
    η‖w‖/‖g + λw‖ (1 if a norm is 0); 1-D tensors (biases, BN) the plain momentum step."""
    w = [p.copy() for p in params]
    mu = [np.zeros_like(p) for p in params]
    for step_grads in grads:
        for i, g in enumerate(step_grads):
            d = g.copy()
            if w[i].ndim > 1:
                d = d + WD * w[i]
                w_norm, d_norm = np.sqrt((w[i] ** 2).sum()), np.sqrt((d ** 2).sum())
                q = ETA * w_norm / d_norm if w_norm > 0 and d_norm > 0 else 1.0
                d = q * d
            mu[i] = MOMENTUM * mu[i] + d
            w[i] = w[i] - LR * mu[i]
    return w


def test_lars_matches_the_hand_written_steps(float64):
    net = model()
    params = [p.detach().numpy().copy() for p in net.parameters()]
    opt = LARS(lars_param_groups([net], WD), lr=LR, momentum=MOMENTUM, trust_coefficient=ETA)
    x = torch.randn(8, 3, generator=make_generator(1))
    grads = []
    for _ in range(3):
        opt.zero_grad()
        net(x).pow(2).sum().backward()
        net[0].weight.grad[0].zero_()  # one row without gradient: still a normal step
        grads.append([p.grad.numpy().copy() for p in net.parameters()])
        opt.step()
    expected = reference_steps(params, grads)
    for p, e in zip(net.parameters(), expected, strict=True):
        np.testing.assert_allclose(p.detach().numpy(), e, rtol=1e-12, atol=1e-14)


def test_param_groups_exclude_biases_and_batch_norm():
    net = model()
    adapted, plain = lars_param_groups([net, net[3]], WD)  # a module listed twice: its tensors once
    assert [tuple(p.shape) for p in adapted["params"]] == [(4, 3), (2, 4)]
    assert [tuple(p.shape) for p in plain["params"]] == [(4,), (4,), (4,), (2,)]  # bias, BN w, BN b, bias
    assert (adapted["adapt"], adapted["weight_decay"], plain["adapt"], plain["weight_decay"]) == (True, WD, False, 0.0)


def test_zero_weights_or_gradients_give_trust_ratio_one(float64):
    w = nn.Parameter(torch.zeros(2, 2))
    w.grad = torch.ones(2, 2)
    LARS([w], lr=0.1, weight_decay=0.0).step()  # ‖w‖ = 0: q = 1, a plain SGD step
    torch.testing.assert_close(w.detach(), torch.full((2, 2), -0.1))


def test_state_round_trip_continues_identically(float64):
    a = model()
    opt_a = LARS(lars_param_groups([a], WD), lr=LR)
    x = torch.randn(8, 3, generator=make_generator(2))

    def step(net, opt):
        opt.zero_grad()
        net(x).pow(2).sum().backward()
        opt.step()

    step(a, opt_a)
    b = copy.deepcopy(a)
    opt_b = LARS(lars_param_groups([b], WD), lr=LR)
    opt_b.load_state_dict(copy.deepcopy(opt_a.state_dict()))
    step(a, opt_a)
    step(b, opt_b)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_bad_hyperparameters_are_refused():
    with pytest.raises(ValueError, match="LARS"):
        LARS([nn.Parameter(torch.zeros(1))], lr=0.0)
