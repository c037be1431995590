"""Where things live and what the tunables are.

Every path is derived from one project root so that the CLI, the MLflow entry points and the
DVC stages agree on locations whatever their working directory. The root is ``$XRAYSEP_ROOT``
if set, else the nearest ancestor of the working directory that holds ``params.yaml``, else the
working directory. ``params.yaml`` is the single source of tunables; nothing here duplicates it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from xraysep.errors import InputError
from xraysep.settings import PANEL_NAME, Preset, Settings, parse


def project_root() -> Path:
    """The directory that holds ``params.yaml``, ``data/``, ``models/`` and ``reports/``."""
    if env := os.environ.get("XRAYSEP_ROOT"):
        return Path(env).resolve()
    cwd = Path.cwd().resolve()
    for folder in (cwd, *cwd.parents):
        if (folder / "params.yaml").is_file():
            return folder
    return cwd


def check_panel_name(name: str) -> str:
    """Refuse names that could escape ``data/panels`` or confuse the shell and MLflow."""
    if not PANEL_NAME.match(name) or ".." in name:
        raise InputError(
            f"panel name {name!r}: use 1-64 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit, with no path separators and no '..'"
        )
    return name


def _stem(key: str) -> str:
    return f"order-{key}" if key.isdigit() else key


@dataclass(frozen=True)
class Paths:
    """Every file location of one panel, derived from the project root."""

    root: Path
    panel: str

    @property
    def raw_dir(self) -> Path:
        return self.root / "data" / "raw" / self.panel

    @property
    def store(self) -> Path:
        return self.root / "data" / "panels" / f"{self.panel}.zarr"

    @property
    def separated_store(self) -> Path:
        return self.root / "data" / "separated" / f"{self.panel}.zarr"

    @property
    def models_dir(self) -> Path:
        return self.root / "models" / self.panel

    @property
    def trained_dir(self) -> Path:
        """The networks the panel's method trained, and nothing else (one DVC output)."""
        return self.models_dir / "trained"

    def trained_model(self, key: str) -> Path:
        """A trained network: ``order-12.pt`` for an ordering of the paper's network,
        ``<key>.pt`` for any other (``shared.pt``)."""
        return self.trained_dir / f"{_stem(key)}.pt"

    def resume_checkpoint(self, key: str) -> Path:
        """Mid-training state of one trained network; removed when its training completes."""
        return self.models_dir / f".{_stem(key)}.resume.pt"

    @property
    def combine_model(self) -> Path:
        return self.models_dir / "combine.pt"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports" / self.panel

    @property
    def separated_reports(self) -> Path:
        """TIFFs and previews of the latest separation, for people."""
        return self.reports_dir / "separated"

    @property
    def loss_dir(self) -> Path:
        return self.reports_dir / "loss"

    def loss_curve(self, key: str) -> Path:
        return self.loss_dir / f"{key}.csv"

    @property
    def metrics(self) -> Path:
        return self.reports_dir / "metrics.json"


def paths(panel: str) -> Paths:
    """Paths of ``panel`` under the project root, after checking the name."""
    return Paths(project_root(), check_panel_name(panel))


def params_file() -> Path:
    return project_root() / "params.yaml"


def settings() -> Settings:
    """``params.yaml``, typed and checked (``xraysep.settings``); read afresh (it is small)
    so that edits always take effect, parsed once per content."""
    path = params_file()
    if not path.is_file():
        raise InputError(f"{path}: params.yaml not found; run from the project or set XRAYSEP_ROOT")
    return parse(path.read_text(), str(path))


def preset(name: str) -> Preset:
    """The named training preset of ``params.yaml``."""
    return settings().preset(name)
