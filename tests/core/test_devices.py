"""The accelerated paths: CUDA (bf16 autocast, channels_last, torch.compile) and Apple MPS.

Skipped where the device is absent (CI has none); run them on a GPU machine with
``uv run pytest tests/core/test_devices.py``. The CPU path is covered by every other test.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from xraysep.core import device as devices
from xraysep.core.crops import CropSampler
from xraysep.core.inference import run as run_branch
from xraysep.core.methods.paper.network import Branch, NetConfig, TwoBranchNet
from xraysep.core.separator import separate, stack
from xraysep.core.training import TrainSettings, fit, stack_reader, two_branch_loss
from xraysep.io import checkpoints, store

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
mps = pytest.mark.skipif(not torch.backends.mps.is_available(), reason="needs Apple MPS")


def test_cpu_path_is_plain_float32():
    cpu = torch.device("cpu")
    assert devices.memory_format(cpu) == torch.contiguous_format
    with devices.autocast(cpu):
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.float32


@cuda
def test_cuda_uses_bf16_and_channels_last():
    gpu = torch.device("cuda")
    assert devices.memory_format(gpu) == torch.channels_last
    batch = devices.to_device(torch.rand(2, 3, 16, 16), gpu)
    assert batch.is_contiguous(memory_format=torch.channels_last)
    branch = Branch(NetConfig(channels=(8, 1), kernel=5)).to(gpu)
    with devices.autocast(gpu):
        assert branch(batch).dtype == torch.bfloat16


@pytest.mark.parametrize("name", [pytest.param("cuda", marks=cuda), pytest.param("mps", marks=mps)])
def test_accelerated_inference_matches_cpu(name):
    torch.manual_seed(0)
    branch = Branch(NetConfig(channels=(8, 8, 1), kernel=5)).eval()
    rgb = np.random.default_rng(0).random((64, 48, 3), dtype=np.float32)
    on_cpu = run_branch(branch, rgb, torch.device("cpu"))
    on_device = run_branch(branch.to(name), rgb, torch.device(name))
    tolerance = 0.05 if name == "cuda" else 1e-4  # bf16 keeps about 3 significant digits
    np.testing.assert_allclose(on_device, on_cpu, atol=tolerance * np.abs(on_cpu).max())


@cuda
def test_train_and_separate_on_cuda_with_compile(project, cli):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"] |= {"device": "cuda", "compile": True}
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    assert cli("synth", "p")[0] == 0
    for order in ("12", "21"):
        code, _, err = cli("train", "p", "--order", order)
        assert code == 0, err
    assert cli("combine", "p")[0] == 0
    code, _, err = cli("separate", "p")
    assert code == 0, err
    model, _ = checkpoints.load_combined(project / "models" / "p" / "combine.pt")
    assert all(p.device.type == "cpu" for p in model.parameters())  # files load anywhere


@cuda
def test_shared_method_trains_on_cuda_and_separates_as_on_cpu(project, cli):
    """The shared map trains and separates in float32 under CUDA's bf16 autocast (its colour
    distances cancel, ``core.methods.shared.model.Absorption.bumps``; in bf16 its sides were
    up to 7 % off the CPU's), so CUDA gives the CPU's pair to within 1 % of the image's range."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"] |= {"device": "cuda"}
    params["shared"] |= {"iterations": 200}
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    assert cli("synth", "p")[0] == 0
    code, _, err = cli("pipeline", "p", "--method", "shared")
    assert code == 0, err
    model, _ = checkpoints.load_separator(project / "models" / "p" / "combine.pt")
    panel = store.open_panel(project / "data" / "panels" / "p.zarr", "p")
    photographs = stack(panel.rgb("front"), panel.rgb("back"), panel.xray())
    on_cpu = separate(model, photographs, tile=32, device=torch.device("cpu"))
    on_gpu = separate(model.to("cuda"), photographs, tile=32, device=torch.device("cuda"))
    for side, image in on_cpu.items():
        assert np.isfinite(on_gpu[side]).all()
        np.testing.assert_allclose(on_gpu[side], image, atol=0.01 * np.abs(image).max())


@pytest.mark.parametrize("name", ["cpu", pytest.param("cuda", marks=cuda)])
def test_training_steps_hold_one_host_thread_on_accelerators(name):
    """On a GPU the host's share of a step is a few small copies, and a pool of intra-op
    threads woken for each made whole-panel steps jitter from 5 to 40 ms on an H100
    (docs/performance.md, Training protocols); the CPU keeps its threads, and both get them
    back after."""
    device, before = torch.device(name), 2  # the suite runs on one thread (conftest)
    seen, threads = [], torch.get_num_threads
    net = TwoBranchNet(NetConfig(channels=(4, 1), kernel=5))
    stack = torch.rand(7, 24, 24)
    settings = TrainSettings(
        iterations=3, batch_size=1, lr=1e-3, optimizer="adam", sampling="crops",
        patch=0, stride=0, crop=24, seed=0,
    )  # fmt: skip
    sampler = CropSampler(stack_reader(stack), (24, 24), 24, 1, 0)
    suite = torch.get_num_threads()
    torch.set_num_threads(before)
    try:
        fit(
            net,
            two_branch_loss,
            sampler,
            settings,
            device,
            on_step=lambda *_: seen.append(threads()),
        )
        assert torch.get_num_threads() == before
    finally:
        torch.set_num_threads(suite)
    assert seen == [before if name == "cpu" else 1] * 3
