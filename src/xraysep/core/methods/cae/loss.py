"""The connected auto-encoders' training loss (docs/methods.md, Connected auto-encoders)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional


def cae_loss(
    model: nn.Module,
    batch: torch.Tensor,
    progress: float,
    *,
    rgb: float,
    mixture: float,
    xray: float,
    code: float,
) -> torch.Tensor:
    """The weighted sum of mean squared errors, the same at every ``progress``:

    - ``rgb``: each photograph against its rebuild ``D_r(E_r(y_i))``;
    - ``mixture``: the mixed X-ray against the sum of the sides, ``D_x(E_r(y₁)) + D_x(E_r(y₂))``;
    - ``xray``: the mixed X-ray against its own auto-encoder's rebuild ``D_x(E_x(x))``;
    - ``code``: the mixed X-ray's code against the sum of the photographs' codes
      (``E_x(x) ≈ E_r(y₁) + E_r(y₂)``), which connects the X-ray's code space to theirs."""
    front, back, target = batch[:, :3], batch[:, 3:6], batch[:, 6:]
    out = {k: v.float() for k, v in model(front, back, target).items()}
    return (
        rgb * (functional.mse_loss(out["front"], front) + functional.mse_loss(out["back"], back))
        + mixture * functional.mse_loss(out["front_xray"] + out["back_xray"], target)
        + xray * functional.mse_loss(out["xray"], target)
        + code * functional.mse_loss(out["xray_code"], out["codes"])
    )
