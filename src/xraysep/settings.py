"""``params.yaml`` as typed, validated settings: the one place every tunable and its default is.

The file is parsed into :class:`Settings` once per content (an edit takes effect at the
next read); a wrong type, a value out of range or an unknown key stops with one line naming the
key (``params.yaml: shared.width: must be greater than 0 (got -1)``). Jobs read attributes
of these objects, never the raw YAML, and the model configurations (``NetConfig``,
``SharedConfig``) are built from them, so a default lives here or in ``params.yaml`` and
nowhere else.
"""

from __future__ import annotations

import functools
import re
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from xraysep.errors import InputError

Positive = Annotated[int, Field(gt=0)]
Count = Annotated[int, Field(ge=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
Mixture = Literal["beer-lambert", "linear"]
Noise = Annotated[float, Field(ge=0)]
Weight = Annotated[float, Field(ge=0)]  # of a term in a loss
# what a panel may be called: it names a folder, a zarr store and an MLflow experiment
PANEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Section(BaseModel):
    """A section of ``params.yaml``: frozen, and refusing keys it does not know."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def values(self) -> dict[str, Any]:
        """The section as ``params.yaml`` gives it (the keys it sets, not the defaults):
        what the benchmark's records fingerprint."""
        return self.model_dump(mode="json", exclude_unset=True)


class Demo(Section):
    panel: str


class PanelEntry(Section):
    """How the pipeline ingests one listed panel from its raw folder ``data/raw/<panel>/``."""

    aligned: bool = False  # photographs already in the X-ray's frame: no registration
    mirror_back: bool = True  # the back photograph as taken from behind


def _panel_names(panels: dict[str, PanelEntry]) -> dict[str, PanelEntry]:
    for name in panels:
        if not PANEL_NAME.match(name) or ".." in name:
            raise ValueError(f"{name!r} is not a panel name (letters, digits, '_', '-', '.')")
    return panels


class Synth(Section):
    """The default panel: every setting of ``synth`` (``core.physics``, ``core.factors``)."""

    size: Positive
    seed: int
    front: str
    back: str
    mixture: Mixture
    grain: bool
    noise: Noise
    factors: dict[str, float]


class Registration(Section):
    """Registration of the photographs to the X-ray at ingest (docs/registration.md)."""

    transform: Literal["similarity", "affine"]
    levels: list[Positive] = Field(min_length=1)
    iterations: Positive
    bins: Positive
    sample_fraction: Annotated[float, Field(gt=0, le=1)]
    max_samples: Positive
    step: PositiveFloat
    working_size: Positive
    search_shift: Annotated[float, Field(ge=0)]
    search_rotation: Annotated[float, Field(ge=0)]
    search_scale: Annotated[float, Field(ge=0)]
    refinements: Positive
    restart_shift: Annotated[float, Field(ge=0)]
    restart_rotation: Annotated[float, Field(ge=0)]
    max_residual: PositiveFloat
    min_size: Positive
    max_points_residual: PositiveFloat
    order: Literal[1, 3]
    block: Positive


class Ingest(Section):
    max_megapixels: PositiveFloat
    registration: Registration


class Train(Section):
    preset: str
    seed: int
    device: str
    checkpoint_every: Count
    in_memory_megapixels: PositiveFloat
    compile: bool


class Training(Section):
    """How a network is trained (``core.training.TrainSettings``)."""

    sampling: Literal["patches", "crops"] = "patches"
    patch: Count = 0
    stride: Count = 0
    crop: Count = 0
    iterations: Positive
    batch_size: Positive
    optimizer: Literal["adam", "sgd"]
    lr: PositiveFloat
    schedule: Literal["constant", "cosine"] = "constant"
    warmup: Count = 0


class Preset(Training):
    """A width of the paper's network and its protocol."""

    channels: list[Positive]
    kernel: Positive


class Shared(Training):
    """The shared method (``core.methods.shared``)."""

    palette: Positive
    width: PositiveFloat
    psf: Count
    members: Positive
    thickness: Count
    ridge: Annotated[float, Field(ge=0)]
    robust: PositiveFloat
    refine: Annotated[float, Field(ge=0, lt=1)]
    refine_ridge: Annotated[float, Field(ge=0)]

    @model_validator(mode="after")
    def _refine_needs_thickness(self) -> Shared:
        if self.refine and not self.thickness:
            raise ValueError(
                f"refine = {self.refine} refines with the thickness fit, which thickness = 0 "
                "turns off; set refine to 0 as well"
            )
        return self


class Consistent(Section):
    smoothing: Count


class Unrolled(Training):
    """The shape shared by the unrolled networks of the peers (``cae``, ``lista``)."""

    width: Positive
    layers: Positive
    kernel: Positive

    @model_validator(mode="after")
    def _odd_kernel(self) -> Unrolled:
        if self.kernel % 2 == 0:
            raise ValueError(f"kernel = {self.kernel}: must be odd (same padding)")
        return self


class Cae(Unrolled):
    """Connected auto-encoders (``core.methods.cae``)."""

    rgb_weight: Weight
    mixture_weight: Weight
    xray_weight: Weight
    code_weight: Weight


class Lista(Unrolled):
    """Unrolled learned ISTA with coupled shrinkage (``core.methods.lista``)."""

    photograph_weight: Weight
    mixture_weight: Weight
    exclusion_weight: Weight
    exclusion_levels: Positive


class Panel(Section):
    """One panel of a benchmark suite: its pictures and seed, and whichever other settings
    of ``synth`` it changes (the rest are ``synth``'s own defaults)."""

    front: str
    back: str
    seed: int
    mixture: Mixture | None = None
    grain: bool | None = None
    noise: Noise | None = None
    factors: dict[str, float] | None = None


class Suite(Section):
    size: Positive | None = None
    preset: str | None = None
    panels: dict[str, Panel] = Field(min_length=1)


class Stress(Section):
    size: Positive | None = None
    preset: str | None = None
    panel: Panel
    levels: dict[str, list[float]]


class Benchmark(Section):
    size: Positive
    seeds: list[int] = Field(min_length=1)
    preset: str
    methods: list[str] = Field(min_length=1)
    jobs: Positive = 1
    suites: dict[str, Suite]
    stress: Stress


class Separate(Section):
    tile: Positive
    workers: Positive
    block: Positive
    tiff: bool


class Report(Section):
    """The panel's page (``jobs/report.py``): how its tiles are written."""

    tile: Annotated[int, Field(ge=16, le=4096)]
    compression: Annotated[int, Field(ge=0, le=9)]
    workers: Positive


class Settings(Section):
    """The whole of ``params.yaml``."""

    method: str
    demo: Demo
    panels: Annotated[dict[str, PanelEntry], AfterValidator(_panel_names)]
    synth: Synth
    ingest: Ingest
    train: Train
    presets: dict[str, Preset]
    shared: Shared
    consistent: Consistent
    cae: Cae
    lista: Lista
    benchmark: Benchmark
    separate: Separate
    report: Report

    def preset(self, name: str) -> Preset:
        """The training preset ``name``, or a one-line error listing them."""
        if name not in self.presets:
            known = ", ".join(self.presets)
            raise InputError(f"preset {name!r}: unknown; params.yaml defines {known}")
        return self.presets[name]


def _problem(error: dict[str, Any]) -> str:
    """One validation error as ``key: what is wrong (got value)``."""
    where = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown key"
    if error["type"] == "missing":
        return f"{where}: missing"
    if error["type"] == "value_error":  # a check across keys: its message says it all
        return f"{where}: {error['msg'].removeprefix('Value error, ')}"
    message = error["msg"][0].lower() + error["msg"][1:]
    return f"{where}: {message} (got {error['input']!r})"


@functools.lru_cache(maxsize=4)
def parse(text: str, name: str = "params.yaml") -> Settings:
    """The settings in ``text``, the content of the file ``name``; parsed once per content."""
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise InputError(f"{name}: not valid YAML ({str(error).splitlines()[0]})") from None
    try:
        return Settings.model_validate(raw)
    except ValidationError as error:
        raise InputError(f"{name}: {_problem(error.errors()[0])}") from None
