"""Captured steps (engine/capture.py): on CUDA each captured path gives the eager path's numbers (the
generator registered with the graph replays its draws); off CUDA capture is unavailable with its reason
and the step runs eagerly, with the CPU numbers unchanged. Also: a batch of chains gives each chain what
it alone would get, and `--device cuda` without a GPU is a usage error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine import capture as capture_module
from engine.bench import eager_vs_captured
from engine.binary.sampler_check import random_model
from engine.binary.samplers import ChainSampler, fvbm_sweep, metropolis_sweep, run_sampler
from engine.capture import CaptureCache, CapturedStep, CaptureUnavailable, capture_unavailable, chain_generator
from engine.errors import SettingError
from engine.toy.config import ToyConfig
from engine.toy.model import EnergyMLP
from engine.toy.samplers import ANALYTIC, LangevinSteps, SamplingConfig, SamplingTrainer, langevin
from engine.toy.trainer import ToyTrainer
from engine.training import init_parameters, make_generator

ROOT = Path(__file__).resolve().parents[2]
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available())")
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the behaviour of a machine without CUDA")
TOY = dict(width=32, depth=2, batch_size=64, k=5, buffer=256, view_grid=16, eval_grid=32, test_size=100, seed=3)


def toy(method: str, device: str, capture: str, **kw) -> ToyTrainer:
    return ToyTrainer(ToyConfig.create(method=method, device=device, capture=capture, **{**TOY, **kw}))


def energy_mlp(device: str | torch.device, seed: int = 0) -> EnergyMLP:
    return init_parameters(EnergyMLP(2, 32, 2), make_generator(seed)).to(device)


# ---- off CUDA: unavailable, with the reason; eager numbers unchanged -------------------------------------
def test_capture_is_unavailable_on_the_cpu_and_says_why():
    reason = capture_unavailable("cpu")
    assert reason is not None and "CUDA" in reason and "cpu" in reason
    if not torch.cuda.is_available():
        assert "is_available" in capture_unavailable("cuda")
    with pytest.raises(CaptureUnavailable, match="CUDA") as info:
        CapturedStep(lambda x: x * 2, [torch.ones(3)])
    assert str(info.value) == reason


def test_the_cache_runs_eagerly_off_cuda_and_for_capture_off():
    calls = []
    fn = lambda x: calls.append(1) or x + 1  # noqa: E731
    auto = CaptureCache("auto", "cpu")
    assert not auto.active and auto.reason == capture_unavailable("cpu")
    assert torch.equal(auto.run("k", fn, torch.zeros(2)), torch.ones(2)) and len(calls) == 1
    assert CaptureCache("off", "cpu").reason == "capture = off"
    with pytest.raises(ValueError, match="capture"):
        CaptureCache("on", "cpu")


def test_a_failed_capture_falls_back_to_eager_with_its_error_and_the_generator_untouched(monkeypatch):
    """Device-independent: a capture that raises leaves the step eager, says why, and the generator
    where it was before the attempt (whatever the attempt drew)."""
    gen = make_generator(5)

    class Failing:
        def __init__(self, fn, inputs, generators):
            torch.rand(10, generator=generators[0])  # a warm-up that drew, then a capture that failed
            try:
                raise RuntimeError("operation not permitted when stream is capturing")  # the body's error
            except RuntimeError:
                raise RuntimeError("CUDA error: operation failed due to a previous error") from None

    monkeypatch.setattr(capture_module, "CapturedStep", Failing)
    cache = CaptureCache("auto", "cpu", [gen])
    cache.reason = None  # as on a CUDA device
    fn = lambda x: x + torch.rand(x.shape, generator=gen)  # noqa: E731
    out = cache.run("k", fn, torch.zeros(4))
    assert "capture failed" in cache.reason and "not permitted" in cache.reason and not cache.active
    assert torch.equal(out, torch.rand(4, generator=make_generator(5)))  # the first draws of a fresh stream


def test_capture_setting_takes_auto_or_off():
    assert ToyConfig().capture == "auto" and SamplingConfig().capture == "auto"
    assert ToyConfig.spec("capture").form is False
    with pytest.raises(SettingError, match="capture"):
        ToyConfig(capture="on")


@pytest.mark.parametrize("method", ["cd", "pcd"])
def test_on_the_cpu_capture_auto_changes_no_number(method):
    """The setting only matters on CUDA: on the CPU both settings run the same eager loop and say why."""
    auto, off = toy(method, "cpu", "auto"), toy(method, "cpu", "off")
    assert "cpu" in auto.capture_reason and off.capture_reason == "capture = off"
    assert [auto.step()["loss"] for _ in range(3)] == [off.step()["loss"] for _ in range(3)]
    assert auto.objective.generators() == {}  # the Langevin noise is the run's own CPU stream
    assert toy("ml", "cpu", "auto").capture_reason == "this method has no sampler loop"


def test_the_chain_generator_is_the_runs_own_off_cuda():
    gen = make_generator(0)
    assert chain_generator(gen, 0, torch.device("cpu"), 7) is gen


@pytest.mark.parametrize("kind", ["metropolis", "gibbs"])
def test_chain_sampler_off_cuda_is_run_sampler(kind):
    model = random_model(kind, 8, 0)
    y = model.encoding.encode(torch.randint(2, (64, 8), generator=make_generator(1))).float()
    sampler = ChainSampler(kind, model, 3, make_generator(2))
    assert "cpu" in sampler.reason
    got, rate = sampler(y)
    want, want_rate = run_sampler(kind, model, y, 3, make_generator(2))
    assert torch.equal(got, want) and rate == want_rate


def test_the_bench_gives_no_captured_figure_off_cuda_only_its_reason():
    timed = []

    def make(capture: str):
        cache = CaptureCache(capture, "cpu")
        return (lambda: timed.append(capture)), lambda: cache.reason

    out = eager_vs_captured(make, torch.device("cpu"), 0.01, work=10)
    assert out["eager"] > 0 and out["captured"] is None and out["speedup"] is None
    assert out["captured_unavailable"] == capture_unavailable("cpu")
    assert set(timed) == {"off"}  # nothing is timed under the captured label


# ---- many chains per launch: a batch gives each chain what it alone would get -----------------------------
@pytest.mark.parametrize("kind", ["fvbm", "generic"])
def test_a_batch_of_chains_gives_each_chain_its_own_run(kind):
    model = random_model("metropolis" if kind == "fvbm" else "gibbs", 10, 0)
    n, d = 32, model.d
    gen = make_generator(3)
    y = model.encoding.encode(torch.randint(2, (n, d), generator=gen)).float()
    index, u = torch.randint(d, (d, n), generator=gen), torch.rand((d, n), generator=gen)
    j, b = (model.J.detach(), model.bias.detach()) if kind == "fvbm" else (None, None)

    def sweep(chains: torch.Tensor, idx: torch.Tensor, uu: torch.Tensor) -> tuple[torch.Tensor, int]:
        chains = chains.clone()
        with torch.no_grad():
            count = fvbm_sweep(model, chains, j, b, idx, uu) if kind == "fvbm" else metropolis_sweep(
                model, chains, idx, uu)
        return chains, int(count)

    batch, total = sweep(y, index, u)
    alone = [sweep(y[c:c + 1], index[:, c:c + 1], u[:, c:c + 1]) for c in range(n)]
    assert torch.equal(batch, torch.cat([a for a, _ in alone]))
    assert total == sum(c for _, c in alone) and 0 < total < n * d


def test_one_langevin_call_moves_every_chain_as_it_would_alone_without_noise():
    """Noise-free Langevin steps are per chain: a batch of 100 equals 100 runs of one chain."""
    model = energy_mlp("cpu")
    y = torch.randn(100, 2, generator=make_generator(1))
    steps = LangevinSteps(4, 0.05, 0.0, generator=make_generator(2), box=3.0)
    batch = steps(model, y)
    alone = torch.cat([steps(model, y[i:i + 1]) for i in range(100)])
    assert torch.allclose(batch, alone, atol=1e-6)


# ---- `--device` -------------------------------------------------------------------------------------------
@no_cuda
def test_device_cuda_without_a_gpu_is_a_usage_error():
    out = subprocess.run([sys.executable, "-m", "pytest", "tests/engine/test_toy_grid.py", "--device", "cuda",
                          "-q", "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 4  # pytest's usage error
    assert "--device cuda" in out.stderr and "is_available" in out.stderr


def test_the_device_fixture_follows_the_option(device, request):
    asked = request.config.getoption("--device")
    assert device == (asked if asked != "auto" else "cuda" if torch.cuda.is_available() else "cpu")


# ---- on CUDA: captured == eager -----------------------------------------------------------------------------
@needs_cuda
def test_a_captured_step_replays_the_eager_draws():
    """Replay i draws what eager call i would, and leaves the generator where N eager calls leave it."""
    dev = torch.device("cuda")
    fn = lambda x, gen: x * 2 + torch.randn(x.shape, generator=gen, device=x.device)  # noqa: E731
    x = torch.arange(6.0, device=dev)
    gen = torch.Generator(device=dev).manual_seed(11)
    step = CapturedStep(lambda t: fn(t, gen), [x], generators=[gen])
    replays = [step(x + i) for i in range(4)]
    ref = torch.Generator(device=dev).manual_seed(11)
    eager = [fn(x + i, ref) for i in range(4)]
    for a, b in zip(replays, eager, strict=True):
        assert torch.equal(a, b)
    assert torch.equal(gen.get_state(), ref.get_state())
    assert not torch.equal(replays[0], replays[1] - 2)  # fresh noise on every replay


@needs_cuda
@pytest.mark.parametrize("clip", [None, 1.0])
def test_captured_langevin_is_the_eager_loop(clip):
    dev = torch.device("cuda")
    model = energy_mlp(dev)
    y = torch.randn(512, 2, generator=make_generator(4)).to(dev)
    samplers = {mode: LangevinSteps(10, 0.01, generator=torch.Generator(device=dev).manual_seed(9), clip_grad=clip,
                                    box=4.0, capture=mode, device=dev) for mode in ("auto", "off")}
    for round_ in range(2):
        for _ in range(3):
            captured, eager = samplers["auto"](model, y), samplers["off"](model, y)
            torch.testing.assert_close(captured, eager, rtol=1e-5, atol=1e-5)
        if round_ == 0:  # parameters changed in place (as an optimiser's step does): the graph reads them
            with torch.no_grad():
                for p in model.parameters():
                    p.mul_(1.5)
    assert samplers["auto"].reason is None and samplers["off"].reason == "capture = off"
    fresh = langevin(model, y, 10, 0.01, generator=torch.Generator(device=dev).manual_seed(1), box=4.0,
                     clip_grad=clip).y
    again = LangevinSteps(10, 0.01, generator=torch.Generator(device=dev).manual_seed(1), clip_grad=clip, box=4.0,
                          capture="auto", device=dev)
    torch.testing.assert_close(again(model, y), fresh, rtol=1e-5, atol=1e-5)


@needs_cuda
@pytest.mark.parametrize("method", ["cd", "pcd"])
def test_captured_toy_training_gives_the_eager_numbers(method):
    captured, eager = toy(method, "cuda", "auto"), toy(method, "cuda", "off")
    assert captured.capture_reason is None and eager.capture_reason == "capture = off"
    losses = [[t.step()["loss"] for _ in range(8)] for t in (captured, eager)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-4, abs=1e-5)
    torch.testing.assert_close(captured.snapshot()["negatives"], eager.snapshot()["negatives"], rtol=1e-4,
                               atol=1e-4)
    torch.testing.assert_close(captured.energy_grid(), eager.energy_grid(), rtol=1e-4, atol=1e-4)


@needs_cuda
def test_a_captured_trainer_restores_its_checkpoint_and_its_noise():
    t = toy("pcd", "cuda", "auto")
    t.step()
    state = t.checkpoint()
    assert set(state["generators"]) == {"langevin"}
    after = [t.step()["loss"] for _ in range(3)]
    t.restore(state)
    assert [t.step()["loss"] for _ in range(3)] == pytest.approx(after, rel=1e-5, abs=1e-6)


@needs_cuda
def test_the_captured_sampling_mode_moves_the_particles_as_eager():
    spec = ANALYTIC["overlapping_modes"]
    runs = []
    for mode in ("auto", "off"):
        trainer = SamplingTrainer(spec.make(), spec.box, SamplingConfig(particles=300, capture=mode), device="cuda")
        for _ in range(5):
            trainer.step()
        runs.append(trainer.y)
    torch.testing.assert_close(runs[0], runs[1], rtol=1e-5, atol=1e-5)


@needs_cuda
@pytest.mark.parametrize("kind,bits", [("metropolis", 12), ("gibbs", 12)])
def test_captured_samplers_give_the_eager_chains(kind, bits):
    dev = torch.device("cuda")
    model = random_model(kind, bits, 0).to(dev)
    y = model.encoding.encode(torch.randint(2, (1024, bits), generator=make_generator(1))).float().to(dev)
    runs = {}
    for mode in ("auto", "off"):
        sampler = ChainSampler(kind, model, 4, torch.Generator(device=dev).manual_seed(3), mode)
        runs[mode] = [sampler(y) for _ in range(3)]
        assert (sampler.reason is None) == (mode == "auto")
    for (a, ra), (b, rb) in zip(runs["auto"], runs["off"], strict=True):
        assert torch.equal(a, b) and ra == pytest.approx(rb)


@needs_cuda
def test_the_generic_metropolis_path_captures_too():
    """Metropolis on an RBM (no cached fields: advanced indexing, two energies per proposal)."""
    dev = torch.device("cuda")
    model = random_model("gibbs", 10, 0).to(dev)
    y = model.encoding.encode(torch.randint(2, (256, 10), generator=make_generator(1))).float().to(dev)
    a = ChainSampler("metropolis", model, 2, torch.Generator(device=dev).manual_seed(3), "auto")
    b = ChainSampler("metropolis", model, 2, torch.Generator(device=dev).manual_seed(3), "off")
    for _ in range(2):
        (ya, ra), (yb, rb) = a(y), b(y)
        assert a.reason is None and torch.equal(ya, yb) and ra == rb


def binary(method: str, device: str, capture: str, sampler: str = "metropolis"):
    from engine.binary.config import BinaryConfig
    from engine.binary.trainer import BinaryTrainer

    model = {"sampler": "gibbs", "model": "rbm"} if sampler == "gibbs" else {"sampler": sampler}
    return BinaryTrainer(BinaryConfig.create(dataset="bars_stripes", method=method, device=device, capture=capture,
                                             k=3, seed=5, **model))


@pytest.mark.parametrize("method", ["cd", "pcd"])
def test_binary_cd_and_pcd_on_the_cpu_give_the_same_numbers_with_capture_auto_or_off(method):
    auto, off = binary(method, "cpu", "auto"), binary(method, "cpu", "off")
    losses = [[t.step()["loss"] for _ in range(5)] for t in (auto, off)]
    assert losses[0] == losses[1] and any(x != 0 for x in losses[0])


@needs_cuda
@pytest.mark.parametrize("method,sampler", [("cd", "metropolis"), ("pcd", "metropolis"), ("pcd", "gibbs")])
def test_captured_binary_training_gives_the_eager_numbers(method, sampler):
    captured, eager = binary(method, "cuda", "auto", sampler), binary(method, "cuda", "off", sampler)
    losses = [[t.step()["loss"] for _ in range(6)] for t in (captured, eager)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-4, abs=1e-5)
