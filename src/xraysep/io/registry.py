"""Log the combined model as a pyfunc, register it as ``xraysep-<panel>``, alias ``champion``.

The model is logged *from code* (``io/pyfunc_code.py``) with the model file as an artifact
and the package as code, so a served or loaded model needs no pickled classes and runs the
same code that produced it. The newest combine of a panel becomes its ``champion``.

The alias moves last, in one registry write, and only after the new version's files have
been read back from the artifact store and its model file found identical to the one
combined: a crash (or a lost upload) at any earlier point leaves ``champion`` on the
previous version, whose files nothing touched. A registered version without the alias is
harmless; the next combine registers another.
"""

from __future__ import annotations

import tempfile
from importlib.metadata import version as installed_version
from pathlib import Path

import mlflow
import numpy as np
from mlflow.entities.model_registry import ModelVersion

from xraysep.errors import InputError, reason
from xraysep.io.images import sha256
from xraysep.io.pyfunc import SIGNATURE

ALIAS = "champion"
PACKAGE = Path(__file__).resolve().parents[1]


def requirements() -> list[str]:
    """Exact versions of what the pyfunc's code imports, as installed here (no slow inference
    of them); MLflow's from its module, which mlflow-skinny installs as well as mlflow."""
    return [
        f"torch=={installed_version('torch')}",
        f"numpy=={installed_version('numpy')}",
        f"mlflow=={mlflow.__version__}",
    ]


def model_name(panel: str) -> str:
    return f"xraysep-{panel}"


def model_uri(panel: str) -> str:
    return f"models:/{model_name(panel)}@{ALIAS}"


def log_and_register(panel: str, model_file: Path, example: dict[str, np.ndarray]) -> ModelVersion:
    """Log the pyfunc in the active run, register a new version and, once its files are
    complete in the artifact store (:func:`missing`), make it the champion."""
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
    if problem := missing(version, model_file):
        raise InputError(
            f"{model_name(panel)} version {version.version}: {problem}; {ALIAS} stays where it was"
        )
    client.set_registered_model_alias(model_name(panel), ALIAS, version.version)
    return version


def missing(version: ModelVersion, model_file: Path) -> str | None:
    """What the registered ``version`` lacks (not ready, its MLmodel, a model file equal to
    ``model_file``), read back from the artifact store; None when it is complete."""
    if version.status != "READY":
        return f"registry status {version.status}"
    client = mlflow.MlflowClient()
    where = client.get_model_version_download_uri(version.name, version.version)
    wanted = ("MLmodel", f"artifacts/{model_file.name}")
    with tempfile.TemporaryDirectory() as scratch:
        for name in wanted:
            try:
                mlflow.artifacts.download_artifacts(f"{where}/{name}", dst_path=scratch)
            except Exception as error:  # any artifact store, any way of failing
                return f"{name} cannot be read back ({reason(error)})"
        if sha256(Path(scratch) / model_file.name) != sha256(model_file):
            return f"its {model_file.name} differs from {model_file}"
    return None
