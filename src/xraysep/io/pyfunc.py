"""The combined model as an MLflow pyfunc: what the registry holds and the server answers.

``predict({"front": rgb, "back": rgb})`` takes two (H, W, 3) float arrays in [0, 1] (the back
already mirrored into the X-ray frame, as in the panel store) and returns
``{"front_xray": (H, W), "back_xray": (H, W)}``, computed exactly as ``xraysep separate`` does,
whatever method combine used. The mixed X-ray (stretched, as in the panel store) is an
optional parameter, ``params={"xray": x.ravel()}`` (row-major, H·W values): a model signature's
named tensors are all required, and parameters are MLflow's way to pass optional ones. Given
it, the answer has the hidden layer too, ``"hidden": (H, W)``: what the pair leaves of it
(``core.hidden``). Only
methods that read the X-ray use it: ``shared`` without it returns the colour maps' pair
without the thickness fit, ``consistent`` its pair after the offset rule but without splitting
the residual, and ``half`` refuses the request.
Requests are checked before any work: a bad one raises an ``MlflowException`` with
``INVALID_PARAMETER_VALUE``, which the model server turns into HTTP 400 and keeps serving.
Serving is for crops and previews (JSON pixels are bulky); whole panels go through
``xraysep separate`` on zarr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel, PythonModelContext
from mlflow.types import ParamSchema, ParamSpec, Schema, TensorSpec

from xraysep.core import device as devices
from xraysep.core import hidden
from xraysep.core.separator import separate, stack
from xraysep.io import contents
from xraysep.io.serve_limits import MAX_PIXELS

TILE = 512

SIGNATURE = ModelSignature(
    inputs=Schema(
        [
            TensorSpec(np.dtype(np.float32), (-1, -1, 3), "front"),
            TensorSpec(np.dtype(np.float32), (-1, -1, 3), "back"),
        ]
    ),
    outputs=Schema(
        [
            TensorSpec(np.dtype(np.float32), (-1, -1), "front_xray"),
            TensorSpec(np.dtype(np.float32), (-1, -1), "back_xray"),
            TensorSpec(np.dtype(np.float32), (-1, -1), "hidden"),  # with the X-ray only
        ]
    ),
    params=ParamSchema([ParamSpec("xray", "float", [], (-1,))]),
)


def _refuse(message: str) -> MlflowException:
    return MlflowException.invalid_parameter_value(message)


def check_xray(values: Any, shape: tuple[int, int], needed: bool) -> np.ndarray | None:
    """The optional mixed X-ray parameter as an (H, W) array, None when not given."""
    xray = np.asarray(values if values is not None else [], dtype=np.float32).ravel()
    if xray.size == 0:
        if needed:
            raise _refuse("this model's method needs the mixed X-ray: pass params={'xray': ...}")
        return None
    if xray.size != shape[0] * shape[1]:
        raise _refuse(f"'xray' has {xray.size} values; expected {shape[0]}×{shape[1]}")
    if not np.isfinite(xray).all():
        raise _refuse("'xray' must hold finite values")
    return xray.reshape(shape)


def check_request(model_input: Any) -> dict[str, np.ndarray]:
    """The two photographs of a request, or an exception saying what is wrong with it."""
    if not isinstance(model_input, dict):
        raise _refuse("inputs must be an object with keys 'front' and 'back'")
    missing = [key for key in ("front", "back") if key not in model_input]
    if missing:
        raise _refuse(f"inputs lack {' and '.join(repr(k) for k in missing)}")
    photographs = {}
    for key in ("front", "back"):
        try:
            array = np.asarray(model_input[key], dtype=np.float32)
        except (TypeError, ValueError) as error:
            raise _refuse(f"{key!r} must be numbers ({error})") from error
        if array.ndim != 3 or array.shape[-1] != 3 or array.size == 0:
            raise _refuse(
                f"{key!r} has shape {array.shape}; expected (height, width, 3), at least 1×1"
            )
        if array.shape[0] * array.shape[1] > MAX_PIXELS:
            raise _refuse(
                f"{key!r} has {array.shape[0] * array.shape[1]} pixels; at most "
                f"{MAX_PIXELS} per request, use `xraysep separate` for whole panels"
            )
        if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
            raise _refuse(f"{key!r} must hold finite values in [0, 1]")
        photographs[key] = array
    if photographs["front"].shape != photographs["back"].shape:
        raise _refuse(
            f"'front' {photographs['front'].shape} and 'back' {photographs['back'].shape} "
            "differ in size"
        )
    return photographs


class SeparatorModel(PythonModel):
    """The combined model of any method, answering with that method's result."""

    # The schema is SIGNATURE (named tensors); MLflow must not derive one from the type hints.
    _skip_type_hint_validation = True

    def load_context(self, context: PythonModelContext) -> None:
        from xraysep.io import serve_limits
        from xraysep.io.checkpoints import load_separator

        serve_limits.install()  # only when `mlflow models serve` is loading the model

        self.device = devices.resolve("auto")
        self.model, self.meta = load_separator(Path(context.artifacts["combined"]))
        self.model.to(self.device)

    def predict(  # model_input has no type hint: MLflow would try to read a schema from it
        self, context: PythonModelContext, model_input, params: dict[str, Any] | None = None
    ) -> dict[str, np.ndarray]:
        """``{"front", "back"}`` photographs (and optionally ``params["xray"]``) ->
        ``{"front_xray", "back_xray"}``, and ``"hidden"`` when the X-ray is given."""
        photographs = check_request(model_input)
        shape = photographs["front"].shape[:2]
        xray = check_xray((params or {}).get("xray"), shape, self.model.needs_xray)
        inputs = stack(photographs["front"], photographs["back"], xray)
        run = separate if xray is None else hidden.separate  # no X-ray: nothing hidden
        return contents.result_names(run(self.model, inputs, tile=TILE, device=self.device))
