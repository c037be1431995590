"""Train: fit one input ordering of the paper's two-branch network on one panel.

Order ``12`` feeds (front, back) photographs to slots (1, 2); order ``21`` feeds (back, front).
The job reads the panel, trains with the preset's protocol, and records everything in one
MLflow run: params, the loss per step, final reconstruction metrics, previews of both slots
and the model file. The model file and a loss-curve CSV also go to the project (DVC outputs).
Every ``train.checkpoint_every`` iterations the whole training state is saved; a training
started again after an interruption resumes from there, in the same MLflow run, and ends with
the weights an uninterrupted run would have had.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import mlflow
import torch

from xraysep import config
from xraysep.core import device as devices
from xraysep.core.combined import ORDERS, slot_input
from xraysep.core.inference import predict
from xraysep.core.metrics import reconstruction
from xraysep.core.network import NetConfig, TwoBranchNet, parameter_count
from xraysep.core.patches import PatchSampler
from xraysep.core.training import Checkpoint, TrainSettings, fit, to_stack, two_branch_loss
from xraysep.errors import InputError
from xraysep.io import checkpoints, store, tracking
from xraysep.io.atomic import atomic_file
from xraysep.io.console import err, progress
from xraysep.io.figures import display
from xraysep.io.versioning import data_hash


def check_order(order: str) -> str:
    if order not in ORDERS:
        raise InputError(f"order {order!r}: unknown; choose 12 (front, back) or 21 (back, front)")
    return order


def write_loss_curve(path: Path, losses: list[float]) -> None:
    with atomic_file(path) as temporary, temporary.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["step", "loss"])
        writer.writerows((step, f"{loss:.8g}") for step, loss in enumerate(losses))


def train(
    name: str,
    order: str,
    *,
    preset: str | None = None,
    iterations: int | None = None,
    device: str | None = None,
    seed: int | None = None,
    resume: bool = True,
) -> Path:
    """Train ordering ``order`` on panel ``name``; returns the model file's path."""
    where = config.paths(name)
    check_order(order)
    defaults = config.params()["train"]
    preset_name = preset or defaults["preset"]
    preset_values = config.preset(preset_name)
    settings = TrainSettings.from_preset(
        preset_values,
        seed if seed is not None else int(defaults["seed"]),
        iterations,
        int(defaults.get("checkpoint_every", 0)),
    )
    target = devices.resolve(device or defaults["device"])
    panel = store.open_panel(where.store, name)
    inputs = {side: panel.rgb(side) for side in ("front", "back")}
    first, second = inputs[slot_input(order, 1)], inputs[slot_input(order, 2)]
    xray = panel.xray()

    torch.manual_seed(settings.seed)
    net_config = NetConfig.from_preset(preset_values)
    net = TwoBranchNet(net_config)
    sampler = PatchSampler(
        to_stack(first, second, xray),
        settings.patch,
        settings.stride,
        settings.batch_size,
        settings.seed,
    )
    resume_path = where.resume_checkpoint(order)
    fingerprint = {
        "panel": data_hash(where.store),
        "order": order,
        "network": net_config.to_dict(),
        "settings": settings.to_dict(),
        "device": target.type,
    }
    resumed = checkpoints.load_resume(resume_path, fingerprint) if resume else None
    start = resumed.checkpoint if resumed else None
    tile = int(config.params()["separate"]["tile"])

    run_id = resumed.run_id if resumed else None
    with tracking.run(name, f"train-{order}", {"xraysep.order": order}, run_id) as run:
        if start is None:
            mlflow.log_params(
                {
                    "order": order,
                    "preset": preset_name,
                    "device": device or defaults["device"],
                    "torch_device": str(target),
                    "channels": ",".join(map(str, net_config.channels)),
                    "kernel": net_config.kernel,
                    "parameters": parameter_count(net),
                    "panel_shape": "x".join(map(str, panel.shape)),
                    **settings.to_dict(),
                }
            )
        else:
            err.print(f"order {order}: resuming from iteration {start.step} ({resume_path})")

        def save(checkpoint: Checkpoint) -> None:
            # the losses are logged asynchronously: a checkpoint must not get ahead of them, or
            # a kill after it loses their tail and the resumed run's loss history has a gap
            mlflow.flush_async_logging()
            checkpoints.save_resume(resume_path, checkpoint, fingerprint, run.info.run_id)

        with progress() as bar:
            task = bar.add_task(
                f"train {name} order {order}",
                total=settings.iterations,
                completed=start.step if start else 0,
                status="",
            )

            def on_step(step: int, loss: float) -> None:
                mlflow.log_metric("loss", loss, step=step, synchronous=False)
                bar.update(task, advance=1, status=f"loss {loss:.5f}")

            began = time.perf_counter()
            losses = fit(
                net, two_branch_loss, sampler, settings, target,
                on_step=on_step, start=start, save=save,
            )  # fmt: skip
            seconds = time.perf_counter() - began

        slots = [
            predict(branch, image, halo=net_config.radius, tile=tile, device=target)
            for branch, image in zip(net.branches, (first, second), strict=True)
        ]
        metrics = reconstruction(xray, *slots)
        trained = settings.iterations - (start.step if start else 0)
        mlflow.log_metrics(
            {
                **metrics,
                "final_loss": losses[-1],
                "train_seconds": seconds,
                "seconds_per_iteration": seconds / trained,
            }
        )
        for slot, image in enumerate(slots, start=1):
            mlflow.log_image(display(image), f"previews/order{order}_slot{slot}.png")

        model_path = where.order_model(order)
        checkpoints.save(
            model_path,
            net,
            {"panel": name, "order": order, "preset": preset_name, "settings": settings.to_dict()},
        )
        write_loss_curve(where.loss_curve(order), losses)
        mlflow.log_artifact(str(model_path), "model")
        mlflow.log_artifact(str(where.loss_curve(order)))
    resume_path.unlink(missing_ok=True)
    err.print(
        f"order {order}: {trained} iterations in {seconds:.1f} s, "
        f"recon MSE {metrics['recon_mse']:.5f} → {model_path}"
    )
    return model_path
