"""Train: fit one network on one panel: an input ordering of the paper's two-branch network,
or the shared colour map of the ``shared`` method (``jobs.recipes`` says what each needs).

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

from xraysep import config
from xraysep.core import device as devices
from xraysep.core.combined import ORDERS
from xraysep.core.methods import TRAINS, check_method
from xraysep.core.metrics import reconstruction
from xraysep.core.patches import PatchSampler
from xraysep.core.training import Checkpoint, fit, to_stack
from xraysep.errors import InputError
from xraysep.io import checkpoints, store, tracking
from xraysep.io.atomic import atomic_file
from xraysep.io.console import err, progress
from xraysep.io.figures import display
from xraysep.io.versioning import data_hash
from xraysep.jobs.recipes import recipe


def trained_key(method: str | None, order: str | None) -> str:
    """Which network to train: ``--order`` picks an ordering of the paper's network, else the
    method (default ``params.yaml: method``) names it when it trains exactly one."""
    if order is not None:
        if method is not None and TRAINS[check_method(method)] != ORDERS:
            raise InputError(f"--order {order}: method {method!r} has no orderings; drop --order")
        return order
    method = check_method(method or config.params()["method"])
    keys = TRAINS[method]
    if not keys:
        raise InputError(
            f"method {method!r} trains nothing; run `xraysep combine NAME --method {method}`"
        )
    if len(keys) > 1:
        raise InputError(f"method {method!r} trains two orderings: pass --order 12 or --order 21")
    return keys[0]


def write_loss_curve(path: Path, losses: list[float]) -> None:
    with atomic_file(path) as temporary, temporary.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["step", "loss"])
        writer.writerows((step, f"{loss:.8g}") for step, loss in enumerate(losses))


def train(
    name: str,
    order: str | None = None,
    *,
    method: str | None = None,
    preset: str | None = None,
    iterations: int | None = None,
    device: str | None = None,
    seed: int | None = None,
    resume: bool = True,
) -> Path:
    """Train ordering ``order`` (``12``, ``21``; or ``shared``, the key of the shared map), or
    the one network of ``method``, on panel ``name``; returns the model file's path."""
    where = config.paths(name)
    key = trained_key(method, order)
    defaults = config.params()["train"]
    target = devices.resolve(device or defaults["device"])
    panel = store.open_panel(where.store, name)
    inputs = {side: panel.rgb(side) for side in ("front", "back")}
    xray = panel.xray()
    made = recipe(
        key,
        inputs,
        preset=preset,
        seed=seed if seed is not None else int(defaults["seed"]),
        iterations=iterations,
        checkpoint_every=int(defaults.get("checkpoint_every", 0)),
    )
    settings = made.settings
    sampler = PatchSampler(
        to_stack(made.first, made.second, xray),
        settings.patch,
        settings.stride,
        settings.batch_size,
        settings.seed,
    )
    resume_path = where.resume_checkpoint(key)
    fingerprint = {
        "panel": data_hash(where.store),
        "order": key,
        "network": made.description,
        "settings": settings.to_dict(),
        "device": target.type,
    }
    resumed = checkpoints.load_resume(resume_path, fingerprint) if resume else None
    start = resumed.checkpoint if resumed else None
    tile = int(config.params()["separate"]["tile"])
    label = f"order {key}" if key in ORDERS else key

    run_id = resumed.run_id if resumed else None
    with tracking.run(name, f"train-{key}", {"xraysep.order": key}, run_id) as run:
        if start is None:
            mlflow.log_params(
                {
                    "order": key,
                    "preset": made.preset,
                    "device": device or defaults["device"],
                    "torch_device": str(target),
                    **made.params(),
                    "panel_shape": "x".join(map(str, panel.shape)),
                    **settings.to_dict(),
                }
            )
        else:
            err.print(f"{label}: resuming from iteration {start.step} ({resume_path})")

        def save(checkpoint: Checkpoint) -> None:
            checkpoints.save_resume(resume_path, checkpoint, fingerprint, run.info.run_id)

        with progress() as bar:
            task = bar.add_task(
                f"train {name} {label}",
                total=settings.iterations,
                completed=start.step if start else 0,
                status="",
            )

            def on_step(step: int, loss: float) -> None:
                mlflow.log_metric("loss", loss, step=step, synchronous=False)
                bar.update(task, advance=1, status=f"loss {loss:.5f}")

            began = time.perf_counter()
            losses = fit(
                made.model, made.loss, sampler, settings, target,
                on_step=on_step, start=start, save=save,
            )  # fmt: skip
            seconds = time.perf_counter() - began

        images = made.images(xray, tile, target)
        metrics = reconstruction(xray, *images.values())
        trained = settings.iterations - (start.step if start else 0)
        mlflow.log_metrics(
            {
                **metrics,
                "final_loss": losses[-1],
                "train_seconds": seconds,
                "seconds_per_iteration": seconds / trained,
            }
        )
        for preview, image in images.items():
            mlflow.log_image(display(image), f"previews/{preview}.png")

        model_path = where.trained_model(key)
        checkpoints.save(
            model_path,
            made.model,
            {"panel": name, "order": key, "preset": made.preset, "settings": settings.to_dict()},
        )
        write_loss_curve(where.loss_curve(key), losses)
        mlflow.log_artifact(str(model_path), "model")
        mlflow.log_artifact(str(where.loss_curve(key)))
    resume_path.unlink(missing_ok=True)
    err.print(
        f"{label}: {trained} iterations in {seconds:.1f} s, "
        f"recon MSE {metrics['recon_mse']:.5f} → {model_path}"
    )
    return model_path
