"""Log the combined model as a pyfunc, register it as ``xraysep-<panel>``, alias ``champion``.

The model is logged *from code* (``io/pyfunc_code.py``) with the model file as an artifact
and the package as code, so a served or loaded model needs no pickled classes and runs the
same code that produced it. The newest combine of a panel becomes its ``champion``.
"""

from __future__ import annotations

from importlib.metadata import version as installed_version
from pathlib import Path

import mlflow
import numpy as np
from mlflow.entities.model_registry import ModelVersion

from xraysep.io.pyfunc import SIGNATURE

ALIAS = "champion"
PACKAGE = Path(__file__).resolve().parents[1]
SERVING_REQUIREMENTS = ("torch", "numpy", "mlflow")  # what the pyfunc's code imports


def requirements() -> list[str]:
    """Exact versions of what serving needs, as installed here (no slow inference of them)."""
    return [f"{name}=={installed_version(name)}" for name in SERVING_REQUIREMENTS]


def model_name(panel: str) -> str:
    return f"xraysep-{panel}"


def model_uri(panel: str) -> str:
    return f"models:/{model_name(panel)}@{ALIAS}"


def log_and_register(panel: str, model_file: Path, example: dict[str, np.ndarray]) -> ModelVersion:
    """Log the pyfunc in the active run, register a new version and make it the champion."""
    info = mlflow.pyfunc.log_model(
        name="separator",
        python_model=str(PACKAGE / "io" / "pyfunc_code.py"),
        artifacts={"combined": str(model_file)},
        code_paths=[str(PACKAGE)],
        signature=SIGNATURE,
        input_example=example,
        pip_requirements=requirements(),
        registered_model_name=model_name(panel),
    )
    client = mlflow.MlflowClient()
    version = client.get_model_version(model_name(panel), str(info.registered_model_version))
    client.set_registered_model_alias(model_name(panel), ALIAS, version.version)
    return version
