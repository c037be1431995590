"""Combine: build the model that separates a panel, for any method (``core.methods``).

Loads the networks the method trained from their files and hands them, with a window of the
panel, to the method's own combine (``Method.combine``), which returns its separator. The
panel-level constants a method needs (the orderings' mean disagreement, the linear fit) are
measured on a centred window of at most ``PREVIEW``² pixels: the whole panel when it is small.
The model goes to ``models/<panel>/combine.pt`` and to MLflow in a ``combine`` run, with
previews of its pair on that window, as a pyfunc registered as ``xraysep-<panel>`` with alias
``champion``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import torch

from xraysep import config
from xraysep.core import device as devices
from xraysep.core import methods
from xraysep.core.inference import centre_window
from xraysep.core.metrics import reconstruction
from xraysep.core.separator import Separator, separate, stack
from xraysep.errors import InputError
from xraysep.io import checkpoints, locks, registry, store, tracking
from xraysep.io.console import err
from xraysep.io.figures import display

PREVIEW = 1024
EXAMPLE = 16  # side of the input example logged with the pyfunc


def build(
    name: str, method: str, window: np.ndarray, tile: int, device: torch.device
) -> tuple[Separator, dict[str, Any]]:
    """The separator of ``method`` for panel ``name``, with its constants measured on
    ``window`` (an (h, w, 7) stack), and what it was made from: the trained networks' meta."""
    where = config.paths(name)
    chosen = methods.method(method)
    loaded = {
        key: checkpoints.load_trained(
            where.trained_model(key),
            chosen.network.KIND,
            f"run `xraysep train {name} --method {method}` first",
        )
        for key in chosen.trains
    }
    trained = {key: model for key, (model, _) in loaded.items()}
    try:
        model = chosen.combine(
            trained, window, settings=config.settings(), tile=tile, device=device
        )
    except InputError as error:
        raise InputError(f"{where.trained_dir}: {error}") from None
    return model, {"trained": {key: meta for key, (_, meta) in loaded.items()}} if loaded else {}


def combine(
    name: str, *, method: str | None = None, device: str | None = None, register: bool = True
) -> Path:
    """Build ``models/<name>/combine.pt`` for ``method`` (default ``params.yaml: method``);
    with ``register``, log it as a pyfunc and make it the panel's champion. Returns its path.
    The panel store and the trained networks are held against replacement, and the combined
    model (with its registration) against other writers and readers, meanwhile
    (``io.locks``)."""
    where = config.paths(name)
    with locks.reading(where.store), locks.reading(where.trained_dir):
        store.open_panel(where.store, name)  # a missing panel stops before any lock file
        with locks.writing(where.combine_model):
            return build_and_register(name, where, method, device, register)


def build_and_register(
    name: str, where: config.Paths, method: str | None, device: str | None, register: bool
) -> Path:
    """:func:`combine` without its locks."""
    method = methods.method(method or config.settings().method).name
    panel = store.open_panel(where.store, name)
    target = devices.resolve(device or config.settings().train.device)
    tile = config.settings().separate.tile
    window = centre_window(panel.shape, PREVIEW)
    photographs = stack(
        panel.rgb("front", *window), panel.rgb("back", *window), panel.xray(*window)
    )
    model, sources = build(name, method, photographs, tile, target)
    model.eval()
    sides = separate(model, photographs, tile=tile, device=target)
    with tracking.run(name, "combine", {"xraysep.method": method}):
        mlflow.log_params(
            {
                "method": method,
                "approach": model.approaches[0],
                "preview_window": f"{window[0].start}:{window[0].stop},"
                f"{window[1].start}:{window[1].stop}",
            }
        )
        recon = reconstruction(photographs[..., 6], sides["front"], sides["back"])
        mlflow.log_metrics({f"preview_{key}": value for key, value in recon.items()})
        for side, image in sides.items():
            mlflow.log_image(display(image), f"previews/{method}_{side}.png")
        checkpoints.save(where.combine_model, model, {"panel": name, "rule": method, **sources})
        mlflow.log_artifact(str(where.combine_model), "model")
        registered = ""
        if register:
            crop = tuple(slice(w.start, min(w.stop, w.start + EXAMPLE)) for w in window)
            example = {side: panel.rgb(side, *crop) for side in ("front", "back")}
            version = registry.log_and_register(name, where.combine_model, example)
            registered = (
                f"; registered {registry.model_name(name)} version {version.version} "
                f"@{registry.ALIAS}"
            )
    err.print(f"combined model ({method}) → {where.combine_model}{registered}")
    return where.combine_model
