"""Combine: join the two trained orderings into the model that separates a panel.

The combined model keeps both ordering networks whole and answers with slot 1 of order 12
for the front X-ray and slot 1 of order 21 for the back (the paper's choice, DESIGN §2). It is
written to ``models/<panel>/combine.pt`` and logged to MLflow in a ``combine`` run, with
previews of the combined pair on a window of the panel, as a pyfunc registered as
``xraysep-<panel>`` with alias ``champion``.
"""

from __future__ import annotations

from pathlib import Path

import mlflow

from xraysep import config
from xraysep.core import device as devices
from xraysep.core.combined import ORDERS, CombinedModel
from xraysep.core.inference import centre_window, predict_region
from xraysep.core.metrics import reconstruction
from xraysep.errors import InputError
from xraysep.io import checkpoints, registry, store, tracking
from xraysep.io.console import err
from xraysep.io.figures import display

PREVIEW = 1024
EXAMPLE = 16  # side of the input example logged with the pyfunc


def combine(name: str, *, device: str | None = None) -> Path:
    """Build ``models/<name>/combine.pt`` from the two ordering models; returns its path."""
    where = config.paths(name)
    panel = store.open_panel(where.store, name)
    loaded = {
        order: checkpoints.load_order(
            where.order_model(order), f"run `xraysep train {name} --order {order}` first"
        )
        for order in ORDERS
    }
    configs = {order: net.config for order, (net, _) in loaded.items()}
    if configs["12"] != configs["21"]:
        raise InputError(
            f"{where.models_dir}: orders 12 and 21 were trained with different networks "
            f"({configs['12'].channels} vs {configs['21'].channels}); retrain with one preset"
        )
    model = CombinedModel(configs["12"])
    for order, (net, _) in loaded.items():
        model.nets[order].load_state_dict(net.state_dict())
    model.eval()
    meta = {"panel": name, "rule": "paper", "orders": {o: m for o, (_, m) in loaded.items()}}

    target = devices.resolve(device or config.params()["train"]["device"])
    window = centre_window(panel.shape, PREVIEW)
    tile = int(config.params()["separate"]["tile"])
    model.to(target)
    sides = {
        side: predict_region(
            branch,
            lambda ys, xs, side=side: panel.rgb(side, ys, xs),
            panel.shape,
            window,
            halo=model.config.radius,
            tile=tile,
            device=target,
        )
        for side, branch in model.sides("combined").items()
    }
    with tracking.run(name, "combine"):
        mlflow.log_params(
            {
                "rule": "paper",
                "front_from": "order 12 slot 1",
                "back_from": "order 21 slot 1",
                "preset_12": loaded["12"][1]["preset"],
                "preset_21": loaded["21"][1]["preset"],
                "preview_window": f"{window[0].start}:{window[0].stop},"
                f"{window[1].start}:{window[1].stop}",
            }
        )
        recon = reconstruction(panel.xray(*window), sides["front"], sides["back"])
        mlflow.log_metrics({f"preview_{key}": value for key, value in recon.items()})
        for side, image in sides.items():
            mlflow.log_image(display(image), f"previews/combined_{side}.png")
        checkpoints.save(where.combine_model, model, meta)
        mlflow.log_artifact(str(where.combine_model), "model")
        crop = tuple(slice(w.start, min(w.stop, w.start + EXAMPLE)) for w in window)
        example = {side: panel.rgb(side, *crop) for side in ("front", "back")}
        version = registry.log_and_register(name, where.combine_model, example)
    err.print(
        f"combined model (front: order 12 slot 1, back: order 21 slot 1) → {where.combine_model}; "
        f"registered {registry.model_name(name)} version {version.version} @{registry.ALIAS}"
    )
    return where.combine_model
