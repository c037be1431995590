"""Train: fit one network on one panel: an input ordering of the paper's two-branch network,
the shared colour map of the ``shared`` method, or a peer's network (``cae``, ``lista``); each
method's recipe (``core.methods``) says what it needs.

Order ``12`` feeds (front, back) photographs to slots (1, 2); order ``21`` feeds (back, front).
The job reads the panel (into memory, or window by window from zarr when it is larger than
``train.in_memory_megapixels``), trains with the preset's protocol (the paper's patch grid or
large random crops), and records everything in one MLflow run: params, the loss per step,
final reconstruction metrics, previews of both slots and the model file. The model file and a
loss-curve CSV also go to the project (DVC outputs). Every ``train.checkpoint_every``
iterations the whole training state is saved; a training started again after an interruption
resumes from there, in the same MLflow run, and ends with the weights an uninterrupted run
would have had. Under ``torchrun`` the ranks train one model data-parallel; rank 0 records.
"""

from __future__ import annotations

import contextlib
import csv
import os
import time
from pathlib import Path

import mlflow
import torch

from xraysep import config
from xraysep.core import device as devices
from xraysep.core import distributed, methods
from xraysep.core.crops import CropSampler
from xraysep.core.inference import centre_window
from xraysep.core.methods.paper.combined import ORDERS
from xraysep.core.metrics import reconstruction
from xraysep.core.patches import PatchSampler
from xraysep.core.training import (
    Checkpoint,
    Reader,
    Sampler,
    TrainSettings,
    fit,
    stack_reader,
    to_stack,
)
from xraysep.errors import InputError
from xraysep.io import checkpoints, locks, store, tracking
from xraysep.io.atomic import atomic_file
from xraysep.io.console import err, progress
from xraysep.io.figures import display
from xraysep.io.versioning import data_hash

CHECK_WINDOW = 2048  # final metrics and previews on at most this centred window
IN_MEMORY_BAND = 1024  # rows of the panel read at a time into an in-memory stack


def networks(method: str | None, order: str | None) -> tuple[str, ...]:
    """Which networks to train: ``--order`` picks one ordering of the paper's network, else
    every network the method (default ``params.yaml: method``) needs."""
    if order is not None:
        if method is not None and methods.method(method).trains != ORDERS:
            raise InputError(f"--order {order}: method {method!r} has no orderings; drop --order")
        if order not in ORDERS:
            raise InputError(
                f"order {order!r}: unknown; choose 12 (front, back) or 21 (back, front)"
            )
        return (order,)
    chosen = methods.method(method or config.settings().method)
    if not chosen.trains:
        hint = f"xraysep combine NAME --method {chosen.name}"
        raise InputError(f"method {chosen.name!r} trains nothing; run `{hint}`")
    return chosen.trains


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
) -> list[Path]:
    """Train ordering ``order`` of the paper's network (``12``, ``21``) on panel ``name``, or
    every network ``method`` needs, one after the other; returns the model files' paths.
    ``preset`` applies to the paper's orderings (the others have their own sections). The
    panel store is held against replacement and the trained networks' folder against other
    writers meanwhile (``io.locks``)."""
    where = config.paths(name)
    keys = networks(method, order)
    with locks.reading(where.store):
        store.open_panel(where.store, name)  # a missing panel stops before any lock file
        # under torchrun the ranks are one training: rank 0 writes, and holds the lock
        leader = os.environ.get("RANK", "0") == "0"
        with locks.writing(where.trained_dir) if leader else contextlib.nullcontext():
            return [
                train_network(
                    name,
                    key,
                    preset=preset if methods.trainer(key).presets else None,
                    iterations=iterations,
                    device=device,
                    seed=seed,
                    resume=resume,
                )
                for key in keys
            ]


def write_loss_curve(path: Path, losses: list[float]) -> None:
    with atomic_file(path) as temporary, temporary.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["step", "loss"])
        writer.writerows((step, f"{loss:.8g}") for step, loss in enumerate(losses))


def panel_reader(panel: store.Panel, slots: tuple[str, str], in_memory: bool) -> Reader:
    """Windows of the (first input's RGB, second input's RGB, X-ray) channels. In memory the
    stack is filled ``IN_MEMORY_BAND`` rows at a time, so loading it holds the stack and one
    band's copies: a whole panel's would be twice the stack again."""
    first, second = slots

    def read(ys: slice, xs: slice) -> torch.Tensor:
        return to_stack(panel.rgb(first, ys, xs), panel.rgb(second, ys, xs), panel.xray(ys, xs))

    if not in_memory:
        return read
    whole = torch.empty((7, *panel.shape), dtype=torch.float32)
    for top in range(0, panel.shape[0], IN_MEMORY_BAND):
        rows = slice(top, top + IN_MEMORY_BAND)
        whole[:, rows] = read(rows, slice(None))
    return stack_reader(whole)


def make_sampler(
    settings: TrainSettings, read: Reader, shape: tuple[int, int], seed: int
) -> Sampler:
    if settings.sampling == "crops":
        return CropSampler(read, shape, settings.crop, settings.batch_size, seed)
    return PatchSampler(read, shape, settings.patch, settings.stride, settings.batch_size, seed)


def train_network(
    name: str,
    key: str,
    *,
    preset: str | None = None,
    iterations: int | None = None,
    device: str | None = None,
    seed: int | None = None,
    resume: bool = True,
) -> Path:
    """Train network ``key`` (``12``, ``21``: an ordering of the paper's network; ``shared``:
    the shared colour map; ``cae``, ``lista``: a peer's) on panel ``name``; returns the model
    file's path."""
    where = config.paths(name)
    defaults = config.settings().train
    panel = store.open_panel(where.store, name)
    made = methods.trainer(key).recipe(
        key,
        panel,
        settings=config.settings(),
        preset=preset,
        seed=seed if seed is not None else defaults.seed,
        iterations=iterations,
        checkpoint_every=defaults.checkpoint_every,
    )
    settings, net = made.settings, made.model
    context = distributed.start(devices.resolve(device or defaults.device))
    target = distributed.device_for(context, devices.resolve(device or defaults.device))
    in_memory = panel.shape[0] * panel.shape[1] <= defaults.in_memory_megapixels * 1e6
    read = panel_reader(panel, made.slots, in_memory)
    sampler = make_sampler(settings, read, panel.shape, settings.seed + context.rank)
    steps = settings.iterations * sampler.steps_per_iteration

    wrap = distributed.wrap(context, target)
    if defaults.compile:
        parallel = wrap
        wrap = lambda module: torch.compile(parallel(module))  # noqa: E731

    resume_path = where.resume_checkpoint(key)
    label = f"order {key}" if key in ORDERS else key
    fingerprint = {
        "panel": data_hash(where.store),
        "order": key,
        "network": made.description,
        "settings": settings.to_dict(),
        "device": target.type,
        "ranks": context.world,
    }
    resumed = checkpoints.load_resume(resume_path, fingerprint) if resume else None
    start = resumed.checkpoint if resumed else None
    if start is not None:
        start.sampler = start.sampler["ranks"][context.rank]

    run_id = resumed.run_id if resumed else None
    recording = (
        tracking.run(name, f"train-{key}", {"xraysep.order": key}, run_id)
        if context.leader
        else contextlib.nullcontext()
    )
    with recording as run:
        if context.leader and start is None:
            mlflow.log_params(
                {
                    "order": key,
                    "preset": made.preset,
                    "device": device or defaults.device,
                    "torch_device": str(target),
                    "ranks": context.world,
                    "compile": defaults.compile,
                    **made.params(),
                    "panel_shape": "x".join(map(str, panel.shape)),
                    "steps": steps,
                    **settings.to_dict(),
                }
            )
        elif context.leader:
            err.print(f"{label}: resuming from iteration {start.step} ({resume_path})")

        losses_log = tracking.StepLog(run.info.run_id, "loss") if context.leader else None

        def save(checkpoint: Checkpoint) -> None:
            checkpoint.sampler = {"ranks": distributed.gather(context, checkpoint.sampler)}
            if losses_log is not None:
                # the losses are logged in batches, asynchronously: a checkpoint must not get
                # ahead of them, or a kill after it loses their tail and the resumed history
                # has a gap
                losses_log.flush()
                mlflow.flush_async_logging()
                checkpoints.save_resume(resume_path, checkpoint, fingerprint, run.info.run_id)

        with progress() if context.leader else contextlib.nullcontext() as bar:
            if bar is not None:
                task = bar.add_task(
                    f"train {name} {label}",
                    total=steps,
                    completed=start.step if start else 0,
                    status="",
                )

            def on_step(step: int, loss: float) -> None:
                if losses_log is not None:
                    losses_log.add(step, loss)
                    bar.update(task, advance=1, status=f"loss {loss:.5f}")

            began = time.perf_counter()
            losses = fit(
                net, made.loss, sampler, settings, target,
                on_step=on_step, start=start, save=save, wrap=wrap, groups=made.groups,
            )  # fmt: skip
            seconds = time.perf_counter() - began
            if losses_log is not None:
                losses_log.flush()
        distributed.finish(context, net)
        consistent = distributed.identical(context, net)
        if not context.leader:
            distributed.stop(context)
            return where.trained_model(key)
        if not consistent:
            raise RuntimeError(f"ranks ended with different weights after training {name}")

        window = centre_window(panel.shape, CHECK_WINDOW)
        images = made.images(panel, window, config.settings().separate.tile, target)
        metrics = reconstruction(panel.xray(*window), *images.values())
        trained = steps - (start.step if start else 0)
        mlflow.log_metrics(
            {
                **metrics,
                "final_loss": losses[-1],
                "train_seconds": seconds,
                "seconds_per_step": seconds / trained,
                "seconds_per_iteration": seconds / trained * sampler.steps_per_iteration,
            }
        )
        for preview, image in images.items():
            mlflow.log_image(display(image), f"previews/{preview}.png")

        model_path = where.trained_model(key)
        checkpoints.save(
            model_path,
            net,
            {"panel": name, "order": key, "preset": made.preset, "settings": settings.to_dict()},
        )
        write_loss_curve(where.loss_curve(key), losses)
        mlflow.log_artifact(str(model_path), "model")
        mlflow.log_artifact(str(where.loss_curve(key)))
    resume_path.unlink(missing_ok=True)
    distributed.stop(context)
    ranks = f" on {context.world} ranks (identical weights)" if context.active else ""
    err.print(
        f"{label}: {trained} steps in {seconds:.1f} s{ranks}, "
        f"recon MSE {metrics['recon_mse']:.5f} → {model_path}"
    )
    return model_path
