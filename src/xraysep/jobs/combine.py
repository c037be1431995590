"""Combine: build the model that separates a panel, for any method (``core.methods``).

- ``paper``: both ordering networks; the front X-ray from slot 1 of order 12, the back from
  slot 1 of order 21 (the paper's choice, docs/methods.md, The paper's method).
- ``consistent``: the same networks and slots, made to explain the mixture (``core.consistent``).
- ``shared``: the trained shared colour map, as it is.
- ``linear``: the per-pixel linear regression, fitted here; ``half``: nothing to fit.

The panel-level constants a rule needs (the orderings' mean disagreement, the linear fit) are
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
from xraysep.core.baselines import HalfModel, LinearModel
from xraysep.core.combined import ORDERS, CombinedModel
from xraysep.core.inference import centre_window, predict_all
from xraysep.core.methods import SHARED, check_method
from xraysep.core.metrics import reconstruction
from xraysep.core.separator import Separator, separate, stack
from xraysep.errors import InputError
from xraysep.io import checkpoints, locks, registry, store, tracking
from xraysep.io.console import err
from xraysep.io.figures import display

PREVIEW = 1024
EXAMPLE = 16  # side of the input example logged with the pyfunc


def orderings(name: str, rule: str) -> tuple[CombinedModel, dict[str, Any]]:
    """Both trained orderings in one :class:`CombinedModel` with ``rule``."""
    where = config.paths(name)
    loaded = {
        order: checkpoints.load_order(
            where.trained_model(order), f"run `xraysep train {name} --order {order}` first"
        )
        for order in ORDERS
    }
    configs = {order: net.config for order, (net, _) in loaded.items()}
    if configs["12"] != configs["21"]:
        raise InputError(
            f"{where.models_dir}: orders 12 and 21 were trained with different networks "
            f"({configs['12'].channels} vs {configs['21'].channels}); retrain with one preset"
        )
    model = CombinedModel(configs["12"], rule, int(config.params()["consistent"]["smoothing"]))
    for order, (net, _) in loaded.items():
        model.nets[order].load_state_dict(net.state_dict())
    return model, {"orders": {order: meta for order, (_, meta) in loaded.items()}}


def measure_disagreement(
    model: CombinedModel, window: np.ndarray, tile: int, device: torch.device
) -> None:
    """Set ``model.disagreement``: the mean differences of the orderings' estimates per side."""
    keys = [(order, slot) for order in ORDERS for slot in (1, 2)]
    modules = [model.slot(order, slot) for order, slot in keys]
    estimates = predict_all(modules, window, halo=model.config.radius, tile=tile, device=device)
    slots = dict(zip(keys, estimates, strict=True))
    front = np.mean(slots["12", 1] - slots["21", 2], dtype=np.float64)
    back = np.mean(slots["21", 1] - slots["12", 2], dtype=np.float64)
    model.disagreement.copy_(torch.tensor([front, back]))


def build(
    name: str, method: str, window: np.ndarray, tile: int, device: torch.device
) -> tuple[Separator, dict[str, Any]]:
    """The separator of ``method`` for panel ``name``, with its constants measured on
    ``window`` (an (h, w, 7) stack), and what it was made from."""
    if method in ("paper", "consistent"):
        model, sources = orderings(name, method)
        model.to(device)
        measure_disagreement(model, window, tile, device)
        return model, sources
    if method == SHARED:
        path = config.paths(name).trained_model(SHARED)
        model, meta = checkpoints.load_shared(path, f"run `xraysep train {name} --method shared`")
        return model.to(device), {"shared": meta}
    if method == "linear":
        model = LinearModel()
        model.fit(window[..., 0:3], window[..., 3:6], window[..., 6])
        return model.to(device), {}
    return HalfModel(), {}


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
    method = check_method(method or config.params()["method"])
    panel = store.open_panel(where.store, name)
    target = devices.resolve(device or config.params()["train"]["device"])
    tile = int(config.params()["separate"]["tile"])
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
