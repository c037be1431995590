"""The ``xraysep`` command line: one thin command per job (docs/design.md, Architecture).

Each command only parses arguments and calls the job function; defaults left unset here come
from ``params.yaml``. A user error (:class:`~xraysep.errors.InputError`) prints one line to
stderr and exits with status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from xraysep import config
from xraysep.errors import InputError

app = typer.Typer(
    help="Separate the mixed X-ray of a panel painted on both sides into one X-ray per side, "
    "using the colour photographs of both sides (Sabetsarvestani et al. 2019).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

Panel = Annotated[str, typer.Argument(help="Panel name: the store is data/panels/NAME.zarr.")]
Device = Annotated[
    str | None,
    typer.Option(
        help="auto|cpu|cuda|mps; auto picks CUDA, then MPS, then CPU. [params: train.device]"
    ),
]
Overwrite = Annotated[bool, typer.Option(help="Replace an existing panel store of that name.")]
Preset = Annotated[
    str | None,
    typer.Option(help="Training preset: paper or fast (params.yaml). [params: train.preset]"),
]
Iterations = Annotated[
    int | None, typer.Option(help="Optimiser steps per trained network; overrides the preset.")
]
Method = Annotated[
    str | None,
    typer.Option(
        help="shared, consistent, paper, cae, lista, linear or half; `xraysep methods` says what "
        "each is. [params: method]",
    ),
]


@app.command()
def ingest(
    name: Panel,
    front: Annotated[
        Path | None,
        typer.Option(
            help="Front photograph (RGB TIFF, PNG or JPEG). Without --front, --back and "
            "--xray: the files of data/raw/NAME/ with NAME's options in params.yaml's panels."
        ),
    ] = None,
    back: Annotated[
        Path | None, typer.Option(help="Back photograph (RGB), as photographed from behind.")
    ] = None,
    xray: Annotated[
        Path | None, typer.Option(help="Mixed X-radiograph (grey TIFF, PNG or JPEG).")
    ] = None,
    mirror_back: Annotated[
        bool, typer.Option(help="Mirror the back photograph into the X-ray's frame.")
    ] = True,
    truth_front: Annotated[
        Path | None,
        typer.Option(help="True front X-ray, in the raw X-ray's units (synthetic panels)."),
    ] = None,
    truth_back: Annotated[
        Path | None, typer.Option(help="True back X-ray, in the X-ray's frame and units.")
    ] = None,
    truth_hidden: Annotated[
        Path | None,
        typer.Option(help="True X-ray of what neither photograph shows (support, underpainting)."),
    ] = None,
    register: Annotated[
        bool,
        typer.Option(
            help="Register each photograph to the X-ray (any size; mutual information, or "
            "the control points given) and resample it into the X-ray's pixels; "
            "--no-register takes photographs already in the X-ray's frame, of its size. "
            "[params: ingest.registration]"
        ),
    ] = True,
    front_points: Annotated[
        Path | None,
        typer.Option(
            help="CSV of control points for the front instead of automatic registration: "
            "columns photo_x, photo_y, xray_x, xray_y, one pair a row, at least 3."
        ),
    ] = None,
    back_points: Annotated[
        Path | None,
        typer.Option(
            help="CSV of control points for the back, photo_x and photo_y in the back "
            "photograph's file as taken from behind (ingest mirrors them)."
        ),
    ] = None,
    overwrite: Overwrite = False,
) -> None:
    """Read image files into the zarr panel store: mirror the back, register the photographs
    to the X-ray, stretch the X-ray 1–99 %."""
    from xraysep.jobs.ingest import ingest as run
    from xraysep.jobs.ingest import ingest_listed

    given = {"--front": front, "--back": back, "--xray": xray}
    if not any(given.values()):
        extras = {"--truth-front": truth_front, "--truth-back": truth_back,
                  "--truth-hidden": truth_hidden, "--front-points": front_points,
                  "--back-points": back_points}  # fmt: skip
        if used := [option for option, path in extras.items() if path is not None]:
            raise InputError(
                f"{', '.join(used)}: goes with --front, --back and --xray; "
                f"without them every file comes from data/raw/{name}/"
            )
        ingest_listed(name, overwrite=overwrite)
        return
    if missing := [option for option, path in given.items() if path is None]:
        raise InputError(
            f"{', '.join(missing)}: missing; give all three files, or none to read data/raw/{name}/"
        )
    run(
        name,
        front,
        back,
        xray,
        mirror_back=mirror_back,
        truth_front=truth_front,
        truth_back=truth_back,
        truth_hidden=truth_hidden,
        overwrite=overwrite,
        register=register,
        front_points=front_points,
        back_points=back_points,
    )


@app.command()
def add(
    name: Panel,
    front: Annotated[Path, typer.Option(help="Front photograph (RGB TIFF, PNG or JPEG).")],
    back: Annotated[Path, typer.Option(help="Back photograph (RGB), as photographed from behind.")],
    xray: Annotated[Path, typer.Option(help="Mixed X-radiograph (grey TIFF, PNG or JPEG).")],
    front_points: Annotated[
        Path | None, typer.Option(help="CSV of control points for the front (see ingest).")
    ] = None,
    back_points: Annotated[
        Path | None, typer.Option(help="CSV of control points for the back (see ingest).")
    ] = None,
    aligned: Annotated[
        bool,
        typer.Option(help="The photographs are in the X-ray's frame already: no registration."),
    ] = False,
    mirror_back: Annotated[
        bool, typer.Option(help="Mirror the back photograph into the X-ray's frame.")
    ] = True,
    overwrite: Overwrite = False,
) -> None:
    """Copy a panel's scans to data/raw/NAME/ and list it in params.yaml, for `dvc add` and
    `dvc repro`."""
    from xraysep.jobs.add import add as run

    run(
        name,
        front,
        back,
        xray,
        front_points=front_points,
        back_points=back_points,
        aligned=aligned,
        mirror_back=mirror_back,
        overwrite=overwrite,
    )


@app.command()
def synth(
    name: Panel,
    size: Annotated[
        int | None, typer.Option(help="Side of the square panel in pixels. [params: synth.size]")
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(help="Random seed of texture, grain and noise. [params: synth.seed]"),
    ] = None,
    front: Annotated[
        str | None, typer.Option(help="scikit-image picture for the front. [params: synth.front]")
    ] = None,
    back: Annotated[
        str | None, typer.Option(help="scikit-image picture for the back. [params: synth.back]")
    ] = None,
    mixture: Annotated[
        str | None,
        typer.Option(
            help="beer-lambert (realistic) or linear (x = x1 + x2). [params: synth.mixture]"
        ),
    ] = None,
    grain: Annotated[
        bool | None, typer.Option(help="Add the wood grain of the support. [params: synth.grain]")
    ] = None,
    noise: Annotated[
        float | None, typer.Option(help="Detector noise, standard deviation. [params: synth.noise]")
    ] = None,
    factor: Annotated[
        list[str] | None,
        typer.Option(
            help="A factor that makes the X-ray more than a function of colour, as "
            "NAME=STRENGTH (repeat the option): metamerism, layering, underpainting, ground, "
            "support, misregistration, white-balance, jpeg, film-response "
            "(docs/benchmarks.md, Physics). [params: synth.factors]"
        ),
    ] = None,
    ingest: Annotated[
        bool,
        typer.Option(
            help="Ingest the files written to data/raw/NAME/; --no-ingest leaves that to "
            "`xraysep ingest NAME` (the DVC pipeline's ingest stage)."
        ),
    ] = True,
    overwrite: Overwrite = False,
) -> None:
    """Simulate a double-sided panel with ground truth and ingest it."""
    from xraysep.core.factors import parse_factor
    from xraysep.jobs.synth import synth as run

    chosen = {
        "size": size, "seed": seed, "front": front, "back": back, "mixture": mixture,
        "grain": grain, "noise": noise,
    }  # fmt: skip
    settings = config.settings().synth.model_dump() | {
        k: v for k, v in chosen.items() if v is not None
    }
    if factor is not None:
        settings["factors"] = dict(parse_factor(text) for text in factor)
    run(name, **settings, overwrite=overwrite, ingest_it=ingest)


@app.command()
def train(
    name: Panel,
    order: Annotated[
        str | None,
        typer.Option(
            help="Train one ordering of the paper's network (methods paper, consistent): "
            "12 feeds (front, back) to slots (1, 2); 21 feeds (back, front)."
        ),
    ] = None,
    method: Method = None,
    preset: Preset = None,
    iterations: Iterations = None,
    device: Device = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of weights and sampling. [params: train.seed]")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Continue from the last checkpoint of an interrupted run.")
    ] = True,
) -> None:
    """Train one ordering of the paper's network (--order), or every network the method needs
    (paper, consistent: orders 12 and 21; shared: the shared colour map)."""
    from xraysep.jobs.train import train as run

    run(
        name,
        order,
        method=method,
        preset=preset,
        iterations=iterations,
        device=device,
        seed=seed,
        resume=resume,
    )


@app.command()
def combine(name: Panel, method: Method = None, device: Device = None) -> None:
    """Build and register the method's model (paper: front from order 12 slot 1, back from
    order 21 slot 1; consistent: the same, made to sum to the X-ray)."""
    from xraysep.jobs.combine import combine as run

    run(name, method=method, device=device)


@app.command()
def separate(
    names: Annotated[list[str], typer.Argument(help="One or more panel names.")],
    model: Annotated[
        Path | None, typer.Option(help="Combined model file. [default: models/NAME/combine.pt]")
    ] = None,
    device: Device = None,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Address of a dask.distributed scheduler; default: local threads."),
    ] = None,
    tiff: Annotated[
        bool | None,
        typer.Option(
            "--tiff/--no-tiff",
            help="Also write each result whole as a 16-bit TIFF. [default: separate.tiff]",
        ),
    ] = None,
) -> None:
    """Separate whole panels block by block (dask) into data/separated/NAME.zarr and
    reports/NAME/, with the uncertainty map where the method has one."""
    from xraysep.jobs.separate import separate as run

    run(names, model=model, device=device, scheduler=scheduler, tiff=tiff)


@app.command()
def evaluate(name: Panel, device: Device = None) -> None:
    """Score every approach of the combined model; write reports/NAME/metrics.json, a figure."""
    from xraysep.jobs.evaluate import evaluate as run

    run(name, device=device)


@app.command()
def report(name: Panel) -> None:
    """Write reports/NAME/index.html: photographs, X-rays, separated sides and uncertainty
    side by side, zoomed together, with the metrics (evaluate writes it too)."""
    from xraysep.jobs.report import report as run

    run(name)


@app.command()
def pipeline(
    name: Panel,
    method: Method = None,
    preset: Preset = None,
    iterations: Iterations = None,
    device: Device = None,
) -> None:
    """train -> combine -> separate -> evaluate on an existing panel, as one run."""
    from xraysep.jobs.pipeline import pipeline as run

    run(name, method=method, preset=preset, iterations=iterations, device=device)


@app.command()
def demo(
    name: Annotated[str | None, typer.Argument(help="Panel name. [params: demo.panel]")] = None,
    method: Method = None,
    preset: Preset = None,
    iterations: Iterations = None,
    device: Device = None,
) -> None:
    """synth -> train -> combine -> separate -> evaluate on the default panel."""
    from xraysep.jobs.pipeline import demo as run

    run(name, method=method, preset=preset, iterations=iterations, device=device)


@app.command()
def benchmark(
    suite: Annotated[
        str,
        typer.Option(
            help="test: the panels that report the methods; validation: held-out panels for "
            "choosing settings; paper-scale: the paper's preset at its own scale (GPU). "
            "[params: benchmark.suites]"
        ),
    ] = "test",
    stress: Annotated[
        str | None,
        typer.Option(
            help="Instead of a suite, one factor at each strength of "
            "benchmark.stress.levels: metamerism, misregistration, underpainting, ..."
        ),
    ] = None,
    size: Annotated[
        int | None, typer.Option(help="Side of every panel. [params: benchmark.size]")
    ] = None,
    method: Annotated[
        list[str] | None,
        typer.Option(help="Methods to run (repeat the option). [params: benchmark.methods]"),
    ] = None,
    seed: Annotated[
        list[int] | None,
        typer.Option(help="Training seeds (repeat the option). [params: benchmark.seeds]"),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            help="Processes at once: panels × seeds and their networks. [params: benchmark.jobs]"
        ),
    ] = None,
    device: Device = None,
    rescore: Annotated[
        bool,
        typer.Option(
            help="Also rerun the runs whose records lack current scores of the hidden layer "
            "and the uncertainty map (records made before those were scored)."
        ),
    ] = False,
) -> None:
    """Every method on a suite of synthetic panels with truth, over seeds; reuses the runs
    whose settings and code are unchanged. Report: reports/benchmark*/benchmark.md."""
    from xraysep.jobs.benchmark import benchmark as run

    run(
        suite_name=suite, stress=stress, size=size, methods=method, seeds=seed, jobs=jobs,
        device=device, rescore=rescore,
    )  # fmt: skip


@app.command()
def export(
    name: Panel,
    format_: Annotated[
        str, typer.Option("--format", help="ome-tiff: one tiled, pyramidal OME-TIFF per image.")
    ] = "ome-tiff",
    out: Annotated[
        Path | None, typer.Option(help="Folder of the files. [default: reports/NAME/ome-tiff]")
    ] = None,
    version: Annotated[
        str | None,
        typer.Option(help="Results to export (combine-…). [default: models/NAME/combine.pt's]"),
    ] = None,
) -> None:
    """Export the separated results and the panel's inputs for imaging tools (OME-TIFF)."""
    from xraysep.jobs.export import export as run

    run(name, format_, out=out, version=version)


@app.command()
def verify(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Panel names; default: every store under data/panels."),
    ] = None,
) -> None:
    """Check panel and results stores: arrays and shapes, every chunk's checksum, value
    ranges, and the source files' hashes; prints a table, exits 1 when a check fails."""
    from xraysep.io.console import err, out
    from xraysep.jobs.verify import FAIL, table
    from xraysep.jobs.verify import verify as run

    rows = run(names)
    out.print(table(rows))
    failed = sum(row.status == FAIL for row in rows)
    err.print(f"verify: {len(rows)} checks, {failed} failed", highlight=False)
    if failed:
        raise typer.Exit(1)


@app.command()
def methods() -> None:
    """List the separation methods: what each trains, and what it is."""
    from rich.table import Table

    from xraysep.core.methods import REGISTRY
    from xraysep.io.console import out

    table = Table("method", "trains", "what it is")
    for entry in REGISTRY.values():
        table.add_row(entry.name, ", ".join(entry.trains) or "nothing", entry.summary)
    out.print(table)


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit status 2."""
    try:
        app()
    except InputError as error:
        print(f"xraysep: error: {error}", file=sys.stderr)
        sys.exit(2)
