"""Model files: trained ordering networks and the combined model, self-describing.

A file holds the architecture beside the weights, so loading needs nothing but the file
(the served model loads it the same way). Files are written atomically and loaded with
``weights_only=True`` (no pickled code runs) onto whatever device the caller names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from xraysep.core.combined import CombinedModel
from xraysep.core.network import NetConfig, TwoBranchNet
from xraysep.errors import InputError
from xraysep.io.atomic import atomic_file

FORMAT = 1


def save(path: Path, model: TwoBranchNet | CombinedModel, meta: dict[str, Any]) -> None:
    kind = "combined" if isinstance(model, CombinedModel) else "two-branch"
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "kind": kind,
        "config": model.config.to_dict(),
        "state_dict": state,
        "meta": meta,
    }
    with atomic_file(path) as temporary:
        torch.save(payload, temporary)


def _load(path: Path, kind: str, hint: str) -> tuple[dict, NetConfig]:
    if not path.is_file():
        raise InputError(f"{path}: model not found; {hint}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise InputError(f"{path}: not a readable xraysep model ({error})") from error
    if not isinstance(payload, dict) or payload.get("kind") != kind:
        raise InputError(f"{path}: not an xraysep {kind} model")
    config = payload["config"]
    return payload, NetConfig(channels=tuple(config["channels"]), kernel=config["kernel"])


def load_order(path: Path, hint: str = "train it first") -> tuple[TwoBranchNet, dict[str, Any]]:
    payload, config = _load(path, "two-branch", hint)
    net = TwoBranchNet(config)
    net.load_state_dict(payload["state_dict"])
    return net.eval(), payload["meta"]


def load_combined(path: Path, hint: str = "combine first") -> tuple[CombinedModel, dict[str, Any]]:
    payload, config = _load(path, "combined", hint)
    model = CombinedModel(config)
    model.load_state_dict(payload["state_dict"])
    return model.eval(), payload["meta"]
