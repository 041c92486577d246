"""Adding a 2-D method is adding one file: written here into a temporary folder on the objectives
package's path (no file of the project is edited), it appears in the CLI's choices, in the CD page's
method list with only its own settings, and its settings are validated."""

from __future__ import annotations

import sys
import textwrap

import pytest

import engine.toy.objectives as objectives
from engine import cli
from engine.errors import SettingError
from engine.toy.config import ToyConfig
from tests.app.conftest import no_exception, open_page

NAME = "hinge_test"
METHOD_FILE = '''
"""Hinge contrast (a test method): push E down on the data and up to a margin m on uniform noise ȳ,

    L(θ) = (1/N) Σ_i E_θ(y_i) + (1/N) Σ_i max(0, m − E_θ(ȳ_i)) + α (1/N) Σ_i [E_θ(y_i)² + E_θ(ȳ_i)²]

with m = k (any declared setting will do for a test).
"""

import torch

from engine.toy.objectives import Objective, ObjectiveContext, ObjectiveOut, register
from engine.toy.samplers import uniform_in_box


class Hinge(Objective):
    def __init__(self, ctx: ObjectiveContext, alpha: float, margin: float):
        super().__init__()
        self.ctx, self.alpha, self.margin = ctx, alpha, margin

    def forward(self, model, batch):
        neg = uniform_in_box(batch.shape[0], batch.shape[1], self.ctx.dataset.box, self.ctx.generator)
        e_pos, e_neg = model(batch), model(neg.to(batch.device))
        loss = e_pos.mean() + torch.relu(self.margin - e_neg).mean() + self.alpha * ((e_pos**2).mean()
                                                                                     + (e_neg**2).mean())
        return ObjectiveOut(loss, {"loss": loss.item()}, negatives=neg)


@register("hinge_test", "Hinge (test method)")
def build(ctx: ObjectiveContext, *, alpha: float, k: int) -> Objective:
    return Hinge(ctx, alpha, float(k))
'''


@pytest.fixture
def new_method(tmp_path):
    (tmp_path / f"{NAME}.py").write_text(textwrap.dedent(METHOD_FILE))
    objectives.__path__.append(str(tmp_path))
    yield NAME
    objectives.__path__.remove(str(tmp_path))
    reg = objectives.REGISTRY
    reg.builders.pop(NAME, None)
    reg.labels.pop(NAME, None)
    reg._imported.discard(NAME)
    sys.modules.pop(f"{objectives.__name__}.{NAME}", None)


def test_new_method_is_in_the_cli_and_trains(new_method, capsys):
    parser = cli.build_parser()
    toy = parser._subparsers._group_actions[0].choices["toy"]
    assert new_method in toy.format_help()
    code = cli.main(["toy", "--method", new_method, "--steps", "2", "--eval-grid", "32", "--test-size", "200",
                     "--device", "cpu"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f'"method": "{new_method}"' in out.strip().splitlines()[-1]


def test_new_method_settings_are_its_own_and_validated(new_method, capsys):
    assert ToyConfig.method_settings(new_method) == ("alpha", "k")
    values = ToyConfig.defaults_for(method=new_method)
    assert ToyConfig.applies("k", values) and ToyConfig.applies("alpha", values)
    assert not any(ToyConfig.applies(s, values) for s in ("eps", "noise", "buffer", "reinit", "sigma", "nce_noise"))
    with pytest.raises(SettingError) as info:
        ToyConfig.create(method=new_method, k=0)
    assert info.value.setting == "k"
    code = cli.main(["toy", "--method", new_method, "--k", "0", "--steps", "2"])
    assert code == 2 and '"setting": "k"' in capsys.readouterr().out


def test_new_method_in_the_page_shows_only_its_settings(new_method):
    at = open_page("contrastive_divergence")
    assert "Hinge (test method)" in at.selectbox(key="cd.method").options  # shown by its label
    at.selectbox(key="cd.method").set_value(new_method).run()
    no_exception(at)
    keys = {w.key for w in [*at.number_input, *at.selectbox, *at.checkbox, *at.toggle] if w.key}
    assert {"cd.k", "cd.alpha", "cd.lr", "cd.batch_size"} <= keys, keys
    assert not keys & {"cd.eps", "cd.noise.set", "cd.buffer", "cd.reinit", "cd.sigma", "cd.nce_noise",
                       "cd.clip_grad.set"}, keys
