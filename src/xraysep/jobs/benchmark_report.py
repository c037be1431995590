"""The benchmark's report: tables of mean and spread over seeds, figures, stress plots.

Reads the records that :mod:`xraysep.jobs.benchmark` keeps (one per panel, seed and group
of methods) and writes, in the suite's folder: ``benchmark.md`` (the mean over the suite,
the gain over the paper's combined result, one table per panel with its figure),
``benchmark.json`` (every number), ``metrics.json`` (the means, for ``dvc metrics``) and, for
a stress suite, ``stress.csv`` (for ``dvc plots``) and ``stress.png``. Every number is the
mean over the training seeds, followed by ``±`` their standard deviation.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from xraysep import config
from xraysep.core import hidden, uncertainty
from xraysep.io import store
from xraysep.io.atomic import atomic_file
from xraysep.io.console import out
from xraysep.io.figures import paper_figure, save_figure
from xraysep.jobs.suites import Suite, Task, trust_rows

COLUMNS = {  # metric -> header, in table order
    "front_psnr": "front PSNR",
    "back_psnr": "back PSNR",
    "front_ssim": "front SSIM",
    "back_ssim": "back SSIM",
    "crosstalk": "crosstalk",
    "recon_mse": "recon MSE",
    "seconds": "wall s",
}
# the hidden layer against the true hidden content, the uncertainty map against the error
# (``None`` in a row where a record predates them or the panel has no hidden content)
TRUST = hidden.HEADERS | uncertainty.HEADERS
# the stress table's trust rows: does each hold up as the factor grows
STRESS_TRUST = {key: TRUST[key] for key in ("hidden_corr", "uncertainty_error_corr")}
FORMATS = {"front_psnr": ".2f", "back_psnr": ".2f", "recon_mse": ".4f", "seconds": ".0f"}
PAPER = "paper combined"
EARLIER_FIGURE = (
    "*An earlier run's figure (its title names the seed): this run did not run every method "
    "of `benchmark.methods` or did not keep every group's images (they stay out of git).*"
)
USES_ORDERINGS = ("paper", "consistent")
# the published peers' settings where ``params.yaml``'s CPU defaults differ from them: the
# code width of both papers' code and the layers the ``lista`` authors' code unrolls
PEERS_AS_PUBLISHED = {"cae": {"width": 64}, "lista": {"width": 64, "layers": 5}}
TRUST_NOTE = (
    "Hidden corr: correlation of the hidden layer (what the pair leaves of the mixture) with "
    "the true hidden content, over the panels that have some; front / back leak: absolute "
    "correlation of that side's error with it; uncertainty / error corr: of the method's "
    "uncertainty map with the pair's absolute error. — where no record has them (records "
    "made before they were scored: `--rescore`)."
)

# label -> metric -> one value per seed
Samples = dict[str, dict[str, list[float]]]


def preset_note(preset: str) -> str:
    """How a preset differs from the paper's network and protocol ("" when it is them)."""
    values = config.preset(preset)
    paper = config.preset("paper")
    notes = []
    if width := width_note(values.channels[0] / paper.channels[0]):
        notes.append(width)
    if values.sampling != "patches":
        notes.append("crop training")
    elif any(getattr(values, k) != getattr(paper, k) for k in ("patch", "stride", "iterations")):
        notes.append("other patch protocol")
    return ", ".join(notes)


def width_note(width: float) -> str:
    """A width as a fraction of the published one ("" when it is that one)."""
    if width == 1:
        return ""
    return f"1/{round(1 / width)} width" if width < 1 else f"{width:g}× width"


def peer_note(method: str) -> str:
    """How ``params.yaml``'s settings of a published peer differ from its paper's."""
    values = getattr(config.settings(), method)
    published = PEERS_AS_PUBLISHED[method]
    notes = [width_note(values.width / published["width"])]
    if "layers" in published and values.layers != published["layers"]:
        notes.append(f"{values.layers} layers")
    return ", ".join(note for note in notes if note)


def display_label(label: str, note: str) -> str:
    """A row's label, saying so when the paper's network (``note``: its preset's) or a
    published peer did not run as its paper ran it."""
    if label in PEERS_AS_PUBLISHED:
        note = peer_note(label)
    elif not label.startswith(USES_ORDERINGS):
        note = ""
    return f"{label} ({note})" if note else label


def load(tasks: list[Task], groups: dict[str, list[str]]) -> tuple[dict[str, Samples], int]:
    """Per panel, each label's values over seeds (a :data:`TRUST` value NaN where the record
    has no current one); and how many records were missing."""
    panels: dict[str, Samples] = {}
    missing = 0
    for task in tasks:
        samples = panels.setdefault(task.panel, defaultdict(lambda: defaultdict(list)))
        for group, methods in groups.items():
            path = task.record_path(group)
            if not path.is_file():
                missing += 1
                continue
            record = json.loads(path.read_text())
            trust = trust_rows(record, task.trust_fingerprint(methods)) or {}
            for label, row in record["rows"].items():
                for key, value in row.items():
                    samples[label][key].append(float(value))
                for key in TRUST:
                    samples[label][key].append(float(trust.get(label, {}).get(key, math.nan)))
    return panels, missing


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and standard deviation of the finite ``values`` (NaN, 0 when there are none)."""
    array = np.asarray(values, dtype=np.float64)
    array = array[np.isfinite(array)]
    if array.size == 0:
        return math.nan, 0.0
    spread = float(array.std(ddof=1)) if array.size > 1 else 0.0
    return float(array.mean()), spread


def suite_samples(panels: dict[str, Samples]) -> Samples:
    """Each label's per-seed mean over the panels (seed ``i`` = the ``i``-th value). A
    :data:`TRUST` score's is over the panels that have it at some seed, and NaN at a seed
    where one of them (or every panel) lacks it: a mean over fewer panels would stand for
    another suite."""
    out: Samples = defaultdict(lambda: defaultdict(list))
    labels = {label for samples in panels.values() for label in samples}
    for label in labels:
        for key in COLUMNS | TRUST:
            columns = [panels[p][label][key] for p in panels if label in panels[p]]
            columns = [c for c in columns if np.isfinite(c).any()] or columns
            seeds = min((len(c) for c in columns), default=0)
            for seed in range(seeds):
                out[label][key].append(float(np.mean([c[seed] for c in columns])))
    return out


def table(samples: Samples, note: str, order: list[str], columns: dict[str, str]) -> str:
    """A row per label of ``order`` in ``samples`` that has a value of ``columns``: each
    cell the mean ± spread over seeds, ``—`` where there is none."""
    lines = ["| method | " + " | ".join(columns.values()) + " |"]
    lines.append("| --- |" + " ---: |" * len(columns))
    for label in (label for label in order if label in samples):
        cells = []
        for key in columns:
            mean, spread = mean_std(samples[label][key])
            form = FORMATS.get(key, ".3f")
            finite = sum(math.isfinite(value) for value in samples[label][key])
            spread_text = "" if key == "seconds" or finite < 2 else f" ± {spread:{form}}"
            cells.append("—" if math.isnan(mean) else f"{mean:{form}}{spread_text}")
        if set(cells) != {"—"}:
            lines.append(f"| {display_label(label, note)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) if len(lines) > 2 else ""


def against_paper(samples: Samples, note: str, order: list[str]) -> str:
    """Each method's mean PSNR gain per side over the paper's combined result, and its
    crosstalk as a fraction of the paper's: the bar a better method has to clear."""
    if PAPER not in samples:
        return ""
    paper = {key: mean_std(values)[0] for key, values in samples[PAPER].items()}
    lines = [
        "| method | front PSNR gain (dB) | back PSNR gain (dB) | crosstalk / paper's |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label in (label for label in order if label in samples and label != PAPER):
        row = {key: mean_std(values)[0] for key, values in samples[label].items()}
        gains = (row[f"{side}_psnr"] - paper[f"{side}_psnr"] for side in ("front", "back"))
        ratio = row["crosstalk"] / paper["crosstalk"] if paper["crosstalk"] else math.nan
        cells = " | ".join(f"{gain:+.2f}" for gain in gains)
        lines.append(f"| {display_label(label, note)} | {cells} | {ratio:.2f} |")
    return "\n".join(lines)


def labels_in_order(groups: dict[str, list[str]], samples: Samples) -> list[str]:
    """Rows in the order of the methods asked for, the paper's approaches together."""
    order: list[str] = []
    for methods in groups.values():
        for method in methods:
            if method in USES_ORDERINGS:
                order += [PAPER, "paper order 12", "paper order 21"]
            else:
                order.append(method)
    order += sorted(samples)  # approaches a model offers besides its method's own
    return [label for label in dict.fromkeys(order) if label in samples]


def figure(suite: Suite, task: Task, groups: dict[str, list[str]], path: Path) -> bool:
    """The paper-style figure of one panel at one seed, if every group's images are kept and
    the run has every method of ``benchmark.methods`` (or ``path`` holds no figure yet), so
    that a run of a few methods does not replace a figure of them all; whether it was drawn
    (else an earlier run's figure at ``path`` stays, and the report says so)."""
    run = {method for methods in groups.values() for method in methods}
    if path.is_file() and not set(config.settings().benchmark.methods) <= run:
        return False
    pairs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for group in groups:
        kept = task.pairs_path(group)
        if not kept.is_file():
            return False
        with np.load(kept) as data:
            pairs |= {label: (data[label][0], data[label][1]) for label in data.files}
    where = config.paths(task.store_name)
    if not where.store.exists():
        return False
    panel = store.open_panel(where.store, task.store_name)
    truth = (panel.truth("front"), panel.truth("back"))
    pairs = {k: (f.astype(np.float32), b.astype(np.float32)) for k, (f, b) in pairs.items()}
    drawing = paper_figure(
        f"{task.panel} (seed {task.seed})", panel.rgb("front"), panel.rgb("back"),
        panel.xray(), pairs, truth,
    )  # fmt: skip
    save_figure(drawing, path, compact=True)
    return True


def stress_plot(suite: Suite, panels: dict[str, Samples], note: str, order: list[str]) -> str:
    """``stress.png`` and ``stress.csv``: each method's per-side PSNR and crosstalk against
    the factor's strength; returns the markdown table of the same numbers, with the hidden
    layer's and the uncertainty map's scores of the methods whose records have them."""
    assert suite.factor is not None
    levels = sorted(suite.levels.items(), key=lambda item: item[1])
    metrics = {"front_psnr": "front PSNR (dB)", "back_psnr": "back PSNR (dB)",
               "crosstalk": "crosstalk"}  # fmt: skip
    figure_, axes = plt.subplots(1, 3, figsize=(13, 3.8), layout="constrained")
    rows = ["level,strength,method," + ",".join(f"{k},{k}_std" for k in metrics)]
    for label in order:
        present = [(panel, strength) for panel, strength in levels if label in panels[panel]]
        if not present:
            continue
        x = [strength for _, strength in present]
        for axis, key in zip(axes, metrics, strict=True):
            stats = [mean_std(panels[panel][label][key]) for panel, _ in present]
            axis.errorbar(x, [m for m, _ in stats], yerr=[s for _, s in stats], marker="o",
                          capsize=3, label=display_label(label, note))  # fmt: skip
        for panel, strength in present:
            cells = []
            for key in metrics:
                mean, spread = mean_std(panels[panel][label][key])
                cells += [f"{mean:.4f}", f"{spread:.4f}"]
            rows.append(f"{panel},{strength:g},{label}," + ",".join(cells))
    factor_unit = suite.factor
    for axis, title in zip(axes, metrics.values(), strict=True):
        axis.set_xlabel(f"{factor_unit} strength")
        axis.set_title(title)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    figure_.suptitle(f"stress: {suite.factor} (mean ± std over seeds)")
    save_figure(figure_, suite.directory / "stress.png")
    with atomic_file(suite.directory / "stress.csv") as temporary:
        temporary.write_text("\n".join(rows) + "\n")
    lines = ["| method | " + " | ".join(f"{s:g}" for _, s in levels) + " |",
             "| --- |" + " ---: |" * len(levels)]  # fmt: skip
    for label in order:
        for key, title in (metrics | STRESS_TRUST).items():
            cells = []
            for panel, _ in levels:
                mean = mean_std(panels[panel].get(label, {}).get(key, []))[0]
                cells.append(f"{mean:.3f}" if math.isfinite(mean) else "")
            if key in metrics or any(cells):
                line = f"| {display_label(label, note)}: {title} | " + " | ".join(cells) + " |"
                lines.append(line)
    return "\n".join(lines)


def _finite(samples: dict[str, list[float]]) -> dict[str, list[float | None]]:
    """``samples`` for JSON: a missing score (NaN) as null."""
    return {key: [v if math.isfinite(v) else None for v in vs] for key, vs in samples.items()}


def write(suite: Suite, tasks: list[Task], groups: dict[str, list[str]], seconds: float) -> Path:
    """Write the suite's report from its records; returns the markdown file's path."""
    panels, missing = load(tasks, groups)
    overall = suite_samples(panels)
    order = labels_in_order(groups, overall)
    note = preset_note(suite.preset)
    seeds = sorted({task.seed for task in tasks})
    directory = suite.directory
    figures = directory / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    paper_run = (
        f"The paper's orderings ran with preset `{suite.preset}`: "
        + (f"**the paper's network at {note}, not the paper's own scale**." if note
           else "the paper's network and protocol exactly.")
    )  # fmt: skip
    parts = [
        f"# Benchmark: {suite.name}",
        "",
        f"{len(suite.panels)} synthetic {suite.size}×{suite.size} panels, training seeds "
        f"{', '.join(map(str, seeds))}; every number is the mean over the seeds ± their "
        "standard deviation (for the suite: of the per-seed means over the panels; no spread "
        "where one seed ran). PSNR and "
        "SSIM per side after removing the unidentifiable offset; crosstalk = correlation of a "
        "side's error with the other side's truth; recon MSE = the paper's measure; wall s = "
        "training + combine + separation per panel. " + paper_run,
        "",
        f"Reproduce: `{command(suite, seeds)}` (physics and settings: `params.yaml`, "
        "`docs/benchmarks.md`).",
    ]
    if missing:
        parts += ["", f"**Incomplete: {missing} of {len(tasks) * len(groups)} records missing.**"]
    parts += ["", "## Mean over the suite", "", table(overall, note, order, COLUMNS)]
    if trusted := table(overall, note, order, TRUST):
        parts += ["", "## The hidden layer and the uncertainty map", "", TRUST_NOTE, "", trusted]
    if against := against_paper(overall, note, order):
        parts += ["", "## Against the paper's combined result", "", against]
    summary_end = len(parts)
    if suite.factor is not None:
        parts += ["", f"## Against {suite.factor}", "", "![stress](stress.png)", "",
                  stress_plot(suite, panels, note, order)]  # fmt: skip
    for panel, samples in panels.items():
        parts += ["", f"## {panel}", "", f"`{json.dumps(suite.panels[panel], sort_keys=True)}`"]
        first = next(t for t in tasks if t.panel == panel)
        drawn = figure(suite, first, groups, figures / f"{panel}.png")
        if (figures / f"{panel}.png").is_file():
            parts += ["", f"![{panel}](figures/{panel}.png)"]
            parts += [] if drawn else ["", EARLIER_FIGURE]
        labels = labels_in_order(groups, samples)
        parts += ["", table(samples, note, labels, COLUMNS)]
        if trusted := table(samples, note, labels, TRUST):
            parts += ["", trusted]
    text = "\n".join(parts) + "\n"
    path = directory / "benchmark.md"
    with atomic_file(path) as temporary:
        temporary.write_text(text)
    numbers = {
        "suite": {label: _finite(values) for label, values in overall.items()},
        "panels": {p: {label: _finite(v) for label, v in s.items()} for p, s in panels.items()},
    }
    with atomic_file(directory / "benchmark.json") as temporary:
        temporary.write_text(json.dumps(numbers, indent=1, sort_keys=True) + "\n")
    summary: dict[str, Any] = {}
    for label in order:
        for key in ("front_psnr", "back_psnr", "crosstalk", "seconds"):
            mean, spread = mean_std(overall[label][key])
            summary.setdefault(label.replace(" ", "_"), {}).update(
                {key: mean, f"{key}_std": spread}
            )
    with atomic_file(directory / "metrics.json") as temporary:
        temporary.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    out.print("\n".join(parts[:summary_end]))
    out.print(f"took {seconds / 60:.1f} minutes; report: {path}")
    return path


def command(suite: Suite, seeds: list[int]) -> str:
    """The command that makes this report: the suite, and the seeds where they are not all
    of ``params.yaml: benchmark.seeds``."""
    if suite.factor is not None:
        line = f"uv run xraysep benchmark --stress {suite.factor}"
    else:
        line = "uv run xraysep benchmark" + (
            "" if suite.name == "test" else f" --suite {suite.name}"
        )
    if seeds != sorted(int(s) for s in config.settings().benchmark.seeds):
        line += "".join(f" --seed {seed}" for seed in seeds)
    return line
