"""Faults in long runs: a disk that fills during ``separate`` (a file-size limit on the real
process) ends with one line and the previous results intact; a training killed while it
writes a checkpoint resumes from the previous one and ends with the same weights."""

from __future__ import annotations

import resource
import subprocess
import sys

import torch
import yaml

from xraysep.io.atomic import recover
from xraysep.jobs.combine import combine

from conftest import ingest_chunked, snapshot, tool_env


def test_a_full_disk_during_separate_keeps_the_previous_results(project, cli):
    ingest_chunked(project, "c")
    combine("c", method="half", register=False)
    assert cli("separate", "c")[0] == 0
    (results,) = (project / "data" / "separated" / "c.zarr").glob("combine-*")
    shard = results / "front_xray" / "0" / "c" / "0" / "0"  # full resolution: level 0
    before = snapshot(project / "data") | snapshot(project / "reports")
    limit = shard.stat().st_size // 2  # a results shard cannot be written whole

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    separate = subprocess.run(
        [sys.executable, "-m", "xraysep", "separate", "c"],
        env=tool_env(),
        preexec_fn=small_disk,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert separate.returncode == 2, separate.stderr
    assert separate.stderr.strip().splitlines()[-1] == (
        f"xraysep: error: {results}: File too large while writing it; its previous version is "
        "intact; free some space and run again"
    )
    assert snapshot(project / "data") | snapshot(project / "reports") == before
    recover(results.parent)  # what the failed writer's threads may have added after its cleanup
    leftovers = [p.name for p in results.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


KILLED_IN_SECOND_CHECKPOINT = """
import io, os, signal, sys
import torch
from xraysep.cli import main

save, checkpoints = torch.save, []

def save_then_die(payload, path):
    if isinstance(payload, dict) and "fingerprint" in payload:  # a resume checkpoint
        checkpoints.append(path)
        if len(checkpoints) == 2:  # half of it on disk, then the process is killed
            buffer = io.BytesIO()
            save(payload, buffer)
            with open(path, "wb") as handle:
                handle.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
            os.kill(os.getpid(), signal.SIGKILL)
    save(payload, path)

torch.save = save_then_die
sys.argv = ["xraysep", "train", "p", "--order", "12"]
main()
"""


def test_a_training_killed_during_a_checkpoint_write_resumes_from_the_previous(project, cli):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["presets"]["tiny"]["iterations"] = 40
    params["train"]["checkpoint_every"] = 10
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    assert cli("synth", "p")[0] == 0
    assert cli("train", "p", "--order", "12", "--no-resume")[0] == 0
    model = project / "models" / "p" / "trained" / "order-12.pt"
    reference = torch.load(model, weights_only=True)["state_dict"]
    model.unlink()

    killed = subprocess.run(
        [sys.executable, "-c", KILLED_IN_SECOND_CHECKPOINT], env=tool_env(), timeout=300
    )
    assert killed.returncode == -9
    folder = project / "models" / "p"
    assert torch.load(folder / ".order-12.resume.pt", weights_only=True)["step"] == 10
    (half_written,) = folder.glob("..order-12.resume.pt.tmp-*")  # the killed writer's
    assert half_written.stat().st_size > 0

    code, _, err = cli("train", "p", "--order", "12")
    assert code == 0 and "resuming from iteration 10" in err
    resumed = torch.load(model, weights_only=True)["state_dict"]
    assert resumed.keys() == reference.keys()
    for key, value in reference.items():
        assert torch.equal(value, resumed[key]), key
    assert [p.name for p in folder.iterdir() if ".tmp-" in p.name or ".resume" in p.name] == []
