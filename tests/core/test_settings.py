"""params.yaml as typed settings: every preset and method builds, and a wrong key stops early."""

from __future__ import annotations

import pytest
import yaml

from xraysep import config
from xraysep.core.methods import REGISTRY, trainer
from xraysep.core.methods.paper.network import NetConfig, TwoBranchNet
from xraysep.core.methods.shared.model import SharedConfig
from xraysep.core.training import TrainSettings, parameter_count
from xraysep.errors import InputError
from xraysep.settings import parse

from conftest import REPO

REPOSITORY = parse((REPO / "params.yaml").read_text())


@pytest.mark.parametrize("name", sorted(REPOSITORY.presets))
def test_every_preset_builds_its_network_and_protocol(name):
    preset = REPOSITORY.preset(name)
    net = TwoBranchNet(NetConfig.from_preset(preset))
    protocol = TrainSettings.from_preset(preset, seed=0)
    assert net.config.channels[-1] == 1 and parameter_count(net) > 0
    assert protocol.iterations == preset.iterations and protocol.sampling == preset.sampling


def test_every_trained_network_of_every_method_builds(project):
    from xraysep.jobs.synth import synth

    synth("p")
    from xraysep.io import store

    panel = store.open_panel(config.paths("p").store, "p")
    settings = config.settings()
    keys = {key for method in REGISTRY.values() for key in method.trains}
    assert keys == {"12", "21", "shared", "cae", "lista"}
    for key in sorted(keys):
        made = trainer(key).recipe(
            key, panel, settings=settings, preset=None, seed=0, iterations=None,
            checkpoint_every=0,
        )  # fmt: skip
        assert made.settings.iterations >= 1 and parameter_count(made.model) > 0
        assert made.halo >= 0 and set(made.slots) == {"front", "back"}


def test_model_configs_take_their_values_from_the_settings():
    shared = SharedConfig.from_settings(REPOSITORY.shared)
    assert (shared.thickness, shared.ridge, shared.width) == (
        REPOSITORY.shared.thickness,
        REPOSITORY.shared.ridge,
        REPOSITORY.shared.width,
    )
    with pytest.raises(TypeError):
        SharedConfig()  # no defaults of its own to disagree with params.yaml
    with pytest.raises(TypeError):
        NetConfig()


def edited(change) -> str:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    change(params)
    return yaml.safe_dump(params)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p["train"].update(sead=1), "params.yaml: train.sead: unknown key"),
        (lambda p: p.update(extra={}), "params.yaml: extra: unknown key"),
        (lambda p: p["shared"].pop("ridge"), "params.yaml: shared.ridge: missing"),
        (
            lambda p: p["shared"].update(width=-1),
            "params.yaml: shared.width: input should be greater than 0 (got -1)",
        ),
        (
            lambda p: p["presets"]["fast"].update(optimizer="lbfgs"),
            "params.yaml: presets.fast.optimizer: input should be 'adam' or 'sgd' (got 'lbfgs')",
        ),
        (
            lambda p: p["benchmark"]["suites"]["test"]["panels"]["colour"].update(colour=1),
            "params.yaml: benchmark.suites.test.panels.colour.colour: unknown key",
        ),
        (
            lambda p: p["cae"].update(kernel=4),
            "params.yaml: cae: kernel = 4: must be odd",
        ),
        (
            lambda p: p["lista"].update(exclusion_levels=0),
            "params.yaml: lista.exclusion_levels: input should be greater than 0 (got 0)",
        ),
        (
            lambda p: p["cae"].update(code_weight=-1),
            "params.yaml: cae.code_weight: input should be greater than or equal to 0 (got -1)",
        ),
        (
            lambda p: p["shared"].update(thickness=0),
            "params.yaml: shared: refine = 0.4 refines with the thickness fit",
        ),
        (
            lambda p: p["report"].update(compression=10),
            "params.yaml: report.compression: input should be less than or equal to 9 (got 10)",
        ),
    ],
)
def test_a_wrong_setting_is_one_line_naming_the_key(change, message):
    with pytest.raises(InputError) as refused:
        parse(edited(change))
    assert str(refused.value).startswith(message)
    assert "\n" not in str(refused.value)


def test_an_edit_takes_effect_at_the_next_read(project):
    assert config.settings().shared.ridge == REPOSITORY.shared.ridge
    (project / "params.yaml").write_text(
        edited(lambda p: p["shared"].update(ridge=REPOSITORY.shared.ridge + 1))
    )
    assert config.settings().shared.ridge == REPOSITORY.shared.ridge + 1


def test_the_cli_stops_on_a_bad_setting_before_writing(project, cli):
    assert cli("synth", "p")[0] == 0
    (project / "params.yaml").write_text(edited(lambda p: p["train"].update(devise="cpu")))
    code, _, err = cli("train", "p")
    assert code == 2 and "train.devise: unknown key" in err
    assert not (project / "models").exists()
