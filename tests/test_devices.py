"""The accelerated paths: CUDA (bf16 autocast, channels_last, torch.compile) and Apple MPS.

Skipped where the device is absent (CI has none); run them on a GPU machine with
``uv run pytest tests/test_devices.py``. The CPU path is covered by every other test.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from xraysep.core import device as devices
from xraysep.core.inference import run as run_branch
from xraysep.core.network import Branch, NetConfig
from xraysep.io import checkpoints

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
    branch = Branch(NetConfig(channels=(8, 1))).to(gpu)
    with devices.autocast(gpu):
        assert branch(batch).dtype == torch.bfloat16


@pytest.mark.parametrize("name", [pytest.param("cuda", marks=cuda), pytest.param("mps", marks=mps)])
def test_accelerated_inference_matches_cpu(name):
    torch.manual_seed(0)
    branch = Branch(NetConfig(channels=(8, 8, 1))).eval()
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
