"""Model files: trained networks and every method's combined model, self-describing.

A file holds its kind and architecture beside the weights, so loading needs nothing but the
file (the served model loads it the same way). Files are written atomically and loaded with
``weights_only=True`` (no pickled code runs) onto whatever device the caller names.
Mid-training checkpoints carry a fingerprint of the run they belong to, so a stale one (other
data, other settings) is never resumed by mistake.
"""

from __future__ import annotations

import functools
import pickle
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from xraysep.core.methods import MODELS, SEPARATORS
from xraysep.core.separator import Separator
from xraysep.core.training import Checkpoint
from xraysep.errors import InputError, reason
from xraysep.io.atomic import atomic_file

FORMAT = 1


def save(path: Path, model: nn.Module, meta: dict[str, Any]) -> None:
    """Write ``model`` (a class of ``core.methods.MODELS``) with ``meta`` to ``path``."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "kind": model.KIND,
        "config": model.to_config(),
        "state_dict": state,
        "meta": meta,
    }
    with atomic_file(path) as temporary:
        torch.save(payload, temporary)


def _refusal(error: Exception) -> str:
    """Why ``torch.load`` refused a file, in one line. For a file that is not plain tensors
    its message leads with advice to retry with ``weights_only=False``, which would run code
    from a file of unknown origin: say what the refusal means instead."""
    if isinstance(error, pickle.UnpicklingError):
        return "not a file of tensors that torch can load safely"
    return reason(error)


def _load(
    path: Path, kinds: tuple[str, ...], hint: str, label: str | None = None
) -> tuple[Any, dict[str, Any]]:
    if not path.is_file():
        raise InputError(f"{path}: model not found; {hint}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise InputError(f"{path}: not a readable xraysep model ({_refusal(error)})") from error
    if not isinstance(payload, dict) or payload.get("kind") not in kinds:
        raise InputError(f"{path}: not an xraysep {label or ' or '.join(kinds)} model")
    model = MODELS[payload["kind"]].from_config(payload["config"])
    model.load_state_dict(payload["state_dict"])
    return model.eval(), payload["meta"]


def load_trained(
    path: Path, kind: str, hint: str = "train it first"
) -> tuple[nn.Module, dict[str, Any]]:
    """A network of ``kind`` that a method trained (``models/<panel>/trained/``)."""
    return _load(path, (kind,), hint)


def load_combined(path: Path, hint: str = "combine first") -> tuple[Any, dict[str, Any]]:
    """The paper's combined model of both orderings."""
    return _load(path, ("combined",), hint)


def load_separator(path: Path, hint: str = "combine first") -> tuple[Separator, dict[str, Any]]:
    """Any method's combined model (``core.separator``)."""
    return _load(path, SEPARATORS, hint, "combined")


@functools.lru_cache(maxsize=4)
def separator_on(path: str, version: str, device: str) -> Separator:
    """The separator at ``path`` on ``device``, loaded once per process and version: dask
    workers call this for every block."""
    return load_separator(Path(path))[0].to(torch.device(device))


class Resume(NamedTuple):
    checkpoint: Checkpoint
    run_id: str


def save_resume(
    path: Path, checkpoint: Checkpoint, fingerprint: dict[str, Any], run_id: str
) -> None:
    """Write a mid-training checkpoint; ``fingerprint`` says what run it belongs to and
    ``run_id`` which MLflow run to continue."""
    payload = {"format": FORMAT, "fingerprint": fingerprint, "run_id": run_id, **vars(checkpoint)}
    with atomic_file(path) as temporary:
        torch.save(payload, temporary)


def load_resume(path: Path, fingerprint: dict[str, Any]) -> Resume | None:
    """The checkpoint at ``path`` if it belongs to the same run (same panel data, ordering,
    settings and network); None when there is none or it belongs to another run."""
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise InputError(
            f"{path}: unreadable training checkpoint ({_refusal(error)}); delete it"
        ) from error
    if payload.get("fingerprint") != fingerprint:
        return None
    checkpoint = Checkpoint(
        step=payload["step"],
        losses=payload["losses"],
        model=payload["model"],
        optimiser=payload["optimiser"],
        sampler=payload["sampler"],
    )
    return Resume(checkpoint, payload["run_id"])
