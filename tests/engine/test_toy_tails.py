"""The live view's particle tails: a PCD particle re-initialised from noise jumps across the box, so every
published frame flags each particle re-initialised at ANY step since the previous frame (the canvas cuts
those tails), not only at the frame's own step. Checked from the frames a real `Run` publishes."""

from __future__ import annotations

import numpy as np

from engine.run import Run, RunOptions
from engine.toy.config import ToyConfig
from engine.toy.trainer import ToyTrainer


def test_every_frame_flags_the_particles_reinitialised_since_the_previous_one():
    cfg = ToyConfig.create(method="pcd", reinit=0.2, batch_size=64, buffer=256, width=16, depth=2, k=2,
                           view_grid=16, eval_grid=16, test_size=50, seed=4, device="cpu")
    trainer = ToyTrainer(cfg)
    per_step: dict[int, np.ndarray] = {}
    run = Run(trainer, RunOptions(max_steps=120, snapshot_hz=15, evaluate_every_s=None, frames_kept=1000))
    run.add_callback("on_step", lambda r: per_step.__setitem__(r.step, r.trainer._out.extras["reinit"].copy()))
    run.run_to_end()
    frames = [f for f in run.frames_since(-1) if "reinit" in f.data]
    gaps = [b.step - a.step for a, b in zip(frames, frames[1:], strict=False)]
    assert max(gaps) > 1  # several steps between pictures: the case the per-step flags got wrong
    for a, b in zip(frames, frames[1:], strict=False):
        if b.step == a.step:  # two pictures of one step (a snapshot and an evaluation's, on a slow machine)
            assert np.array_equal(b.data["particles"], a.data["particles"])
            continue
        since = np.zeros_like(b.data["reinit"])
        for step in range(a.step + 1, b.step + 1):
            since |= per_step[step]
        assert np.array_equal(b.data["reinit"], since), (a.step, b.step)
        # and a particle not flagged moved only by its Langevin steps: never a jump across the box
        moved = np.linalg.norm(b.data["particles"] - a.data["particles"], axis=1)[~since]
        assert moved.size == 0 or moved.max() < 0.5 * float(trainer.dataset.box)
