"""The training loop: iteration semantics, learning, and checkpoints that resume exactly."""

from __future__ import annotations

import numpy as np
import torch

from xraysep.core.crops import CropSampler
from xraysep.core.methods.paper.network import NetConfig, TwoBranchNet
from xraysep.core.patches import PatchSampler
from xraysep.core.training import (
    Checkpoint,
    TrainSettings,
    fit,
    stack_reader,
    to_stack,
    two_branch_loss,
)

CPU = torch.device("cpu")


def learnable_stack(size: int = 48) -> torch.Tensor:
    """Two random photographs and an X-ray that is a fixed linear function of each."""
    rng = np.random.default_rng(0)
    first, second = rng.random((size, size, 3), np.float32), rng.random((size, size, 3), np.float32)
    xray = 0.5 * first[..., 0] + 0.2 * first[..., 2] + 0.3 * second[..., 1]
    return to_stack(first, second, xray.astype(np.float32))


def settings(**changes) -> TrainSettings:
    values = {"iterations": 40, "batch_size": 4, "lr": 0.01, "optimizer": "adam",
              "sampling": "patches", "patch": 16, "stride": 8, "crop": 0, "seed": 0}  # fmt: skip
    return TrainSettings(**(values | changes))


def test_an_iteration_of_the_patch_protocol_is_a_pass():
    stack = learnable_stack()
    sampler = PatchSampler(stack_reader(stack), (48, 48), 16, 8, 4, 0)  # 25 patches
    torch.manual_seed(0)
    losses = fit(TwoBranchNet(NetConfig(channels=(4, 1), kernel=5)), two_branch_loss, sampler,
                 settings(iterations=2), CPU)  # fmt: skip
    assert len(losses) == 2 * 7  # ceil(25 / 4) steps per pass


def test_crop_training_learns_a_linear_mixture():
    stack = learnable_stack()
    sampler = CropSampler(stack_reader(stack), (48, 48), 64, 1, 0)  # the whole image
    torch.manual_seed(0)
    net = TwoBranchNet(NetConfig(channels=(8, 8, 1), kernel=3))
    losses = fit(net, two_branch_loss, sampler, settings(sampling="crops", iterations=150), CPU)
    assert len(losses) == 150
    assert losses[-1] < losses[0] / 20


def test_a_group_with_until_learns_only_until_then():
    stack = learnable_stack()
    sampler = CropSampler(stack_reader(stack), (48, 48), 64, 1, 0)
    torch.manual_seed(0)
    net = TwoBranchNet(NetConfig(channels=(4, 1), kernel=3))
    first, second = (branch[0].weight for branch in net.branches)
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    fit(
        net, two_branch_loss, sampler, settings(sampling="crops", iterations=10), CPU,
        on_step=lambda step, loss: seen.append((first.detach().clone(), second.detach().clone())),
        groups=lambda model: [
            {"params": model.branches[0].parameters(), "until": 0.5},
            {"params": model.branches[1].parameters()},
        ],
    )  # fmt: skip
    # Steps 0-4 (progress below 0.5) move both branches; steps 5-9 only the second.
    assert not torch.equal(seen[0][0], seen[4][0])
    assert all(torch.equal(seen[4][0], later) for later, _ in seen[5:])
    assert not torch.equal(seen[4][1], seen[9][1])


def test_checkpoint_resume_is_exact():
    stack = learnable_stack()
    saved: list[Checkpoint] = []
    torch.manual_seed(0)
    whole = TwoBranchNet(NetConfig(channels=(4, 1), kernel=5))
    sampler = PatchSampler(stack_reader(stack), (48, 48), 16, 8, 4, 0)
    run = settings(iterations=3, checkpoint_every=5)
    fit(whole, two_branch_loss, sampler, run, CPU, save=saved.append)
    assert [c.step for c in saved] == [5, 10, 15, 20]  # every 5 of 21 steps, not the last

    torch.manual_seed(1)  # different initial weights: all must come from the checkpoint
    resumed = TwoBranchNet(NetConfig(channels=(4, 1), kernel=5))
    fresh_sampler = PatchSampler(stack_reader(stack), (48, 48), 16, 8, 4, 7)
    losses = fit(resumed, two_branch_loss, fresh_sampler, run, CPU, start=saved[1])
    assert losses[:10] == saved[1].losses and len(losses) == 21
    for key, value in whole.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
