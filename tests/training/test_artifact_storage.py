"""Artifacts through Django's storage API against a real S3-compatible server: moto's server
mode, started here on a free port and spoken to over HTTP by boto3 (no client calls mocked).
Two "machines" are two ARTIFACT_DIRs sharing one bucket: what one publishes, the other
downloads into its cache and loads."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import boto3
import pytest

from config.artifact_storage import artifact_storage_backend
from config.env import ImproperSetting
from tests.rewards_db.conftest import annotators, learnable_project, tiny_gpt2_path  # noqa: F401 - shared fixtures
from training.artifacts import (
    ArtifactDirStorage,
    ArtifactMissing,
    artifact_exists,
    artifact_materialize,
    artifact_publish,
    artifact_storage,
)

REWARD = {"batch_size": 4, "learning_rate": 0.02, "precision": "fp32", "max_length": 32, "device": "cpu",
          "max_steps": 4, "save_steps": 2}


@pytest.fixture(scope="module")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def machine_a(settings, tmp_path) -> Path:
    settings.ARTIFACT_DIR = tmp_path / "machine-a"
    settings.TORCH_THREADS = 1
    return settings.ARTIFACT_DIR


@pytest.fixture
def bucket(s3_endpoint, settings, monkeypatch, machine_a):
    """A fresh bucket, and the artifacts storage pointed at s3://<bucket>/preflab the way the
    environment does it (PREFLAB_ARTIFACT_STORAGE plus the usual AWS_* variables)."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_S3_ENDPOINT_URL": s3_endpoint, "AWS_S3_REGION_NAME": "us-east-1",
                        "AWS_S3_ADDRESSING_STYLE": "path"}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    name = f"preflab-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=name)
    settings.STORAGES = {**settings.STORAGES, "artifacts": artifact_storage_backend(f"s3://{name}/preflab")}
    return client, name


def object_keys(bucket) -> list[str]:
    client, name = bucket
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=name).get("Contents", []))


def move_to_another_machine(settings, tmp_path, name: str = "machine-b") -> Path:
    settings.ARTIFACT_DIR = tmp_path / name
    return settings.ARTIFACT_DIR


def test_the_setting_picks_the_backend(monkeypatch):
    monkeypatch.setenv("AWS_S3_ENDPOINT_URL", "http://minio.internal:9000")
    assert artifact_storage_backend("") == {"BACKEND": "training.artifacts.ArtifactDirStorage"}
    s3 = artifact_storage_backend("s3://labs-artifacts/preflab/prod/")
    assert s3["BACKEND"] == "storages.backends.s3.S3Storage"
    assert s3["OPTIONS"]["bucket_name"] == "labs-artifacts" and s3["OPTIONS"]["location"] == "preflab/prod"
    assert s3["OPTIONS"]["endpoint_url"] == "http://minio.internal:9000" and s3["OPTIONS"]["file_overwrite"]
    for bad in ("s3", "s3://", "gs://bucket/x", "/srv/artifacts"):
        with pytest.raises(ImproperSetting, match="PREFLAB_ARTIFACT_STORAGE must be"):
            artifact_storage_backend(bad)


def test_a_published_folder_materializes_byte_for_byte_on_another_machine(bucket, settings, tmp_path, machine_a):
    run = machine_a / "runs" / "7"
    payload = os.urandom(300_000)
    (run / "value").mkdir(parents=True)
    (run / "adapter_model.safetensors").write_bytes(payload)
    (run / "value" / "adapter_config.json").write_text('{"r": 8}')
    (run / "checkpoints" / "step-000002").mkdir(parents=True)
    (run / "checkpoints" / "step-000002" / "optimizer.pt").write_bytes(b"resumable state stays local")

    assert artifact_publish(local_dir=run, key="runs/7") == "runs/7"
    assert object_keys(bucket) == ["preflab/runs/7/adapter_model.safetensors",
                                   "preflab/runs/7/value/adapter_config.json"]  # no checkpoints

    machine_b = move_to_another_machine(settings, tmp_path)
    shutil.rmtree(machine_a)
    assert artifact_exists("runs/7/value/adapter_config.json") and not artifact_exists("runs/7/nope.json")
    local = artifact_materialize("runs/7")
    assert local.is_relative_to(machine_b / "cache")
    assert (local / "adapter_model.safetensors").read_bytes() == payload
    assert (local / "value" / "adapter_config.json").read_text() == '{"r": 8}'
    assert not (local / "checkpoints").exists()
    # A sub-folder key does not nest in (and so cannot half-fill) the folder's cache entry.
    value = artifact_materialize("runs/7/value")
    assert value != local / "value" and sorted(p.name for p in value.iterdir()) == ["adapter_config.json"]
    # A single file is a key too (a dataset snapshot's JSONL).
    assert artifact_materialize("runs/7/value/adapter_config.json").read_text() == '{"r": 8}'
    # Downloaded once: the cache answers even when the object is gone.
    bucket[0].delete_object(Bucket=bucket[1], Key="preflab/runs/7/adapter_model.safetensors")
    assert artifact_materialize("runs/7") == local
    assert not [p for p in (machine_b / "cache").iterdir() if p.name.startswith(".tmp-")]


def test_a_missing_key_names_the_key_and_the_storage(bucket, tmp_path):
    with pytest.raises(ArtifactMissing) as error:
        artifact_materialize("runs/404")
    assert "'runs/404'" in str(error.value) and f"s3://{bucket[1]}/preflab" in str(error.value)
    assert isinstance(error.value, OSError)  # the score API's "files missing" 503
    with pytest.raises(ArtifactMissing, match="nothing to publish"):
        artifact_publish(local_dir=tmp_path / "empty", key="runs/1")


def test_the_file_system_default_is_artifact_dir_itself(machine_a, settings, tmp_path):
    assert isinstance(artifact_storage(), ArtifactDirStorage)
    run = machine_a / "runs" / "3"
    run.mkdir(parents=True)
    (run / "adapter_config.json").write_text("{}")
    assert artifact_publish(local_dir=run, key="runs/3") == "runs/3"  # nothing copied
    assert artifact_materialize("runs/3") == run and not (machine_a / "cache").exists()
    # Rows written before keys hold absolute paths: still loaded where the files are.
    assert artifact_materialize(str(run)) == run
    elsewhere = tmp_path / "old-style" / "adapter"
    elsewhere.mkdir(parents=True)
    assert artifact_materialize(str(elsewhere)) == elsewhere
    with pytest.raises(ArtifactMissing, match=f"'runs/9' is not in the artifact storage \\(file system at {machine_a}"):
        artifact_materialize("runs/9")
    with pytest.raises(ArtifactMissing, match="no such file or folder on this machine"):
        artifact_materialize(str(tmp_path / "gone"))
    # Another ARTIFACT_DIR moves the storage with it (tests and `serve` set it after start-up).
    settings.ARTIFACT_DIR = tmp_path / "moved"
    assert Path(artifact_storage().location) == tmp_path / "moved"


@pytest.mark.django_db
def test_a_reward_model_trained_on_one_machine_scores_and_fine_tunes_on_another(
    bucket, settings, tmp_path, machine_a, project, annotators, tiny_gpt2_path,  # noqa: F811
):
    from rewards.models import RewardModel
    from rewards.services.project_training import project_training_start
    from rewards.services.runs import reward_run_create, reward_run_execute_here
    from rewards.services.scoring import cache_clear, rewards_score
    from rewards.services.snapshot import dataset_elements

    learnable_project(project, annotators, n_prompts=8)
    started = project_training_start(project=project, base_model=tiny_gpt2_path, config=REWARD, min_heldout=0,
                                     eval_fraction=0.25, enqueue=False)
    run = reward_run_execute_here(run=started.run, progress=False)
    assert run.status == "succeeded", run.error
    model = RewardModel.objects.get(run=run)
    dataset = model.dataset
    assert model.adapter_path == run.artifact_path == f"runs/{run.pk}"
    assert dataset.path == f"datasets/{dataset.pk}/elements.jsonl"
    keys = object_keys(bucket)
    assert f"preflab/runs/{run.pk}/adapter_model.safetensors" in keys
    assert f"preflab/runs/{run.pk}/reward_config.json" in keys
    assert f"preflab/datasets/{dataset.pk}/elements.jsonl" in keys
    assert (machine_a / "runs" / str(run.pk) / "checkpoints").is_dir()  # kept for a resume on this machine...
    assert not [k for k in keys if "/checkpoints/" in k]  # ...and not shipped
    prompts, responses = ["question about topic one please answer"] * 2, ["good helpful answer", "bad rude answer"]
    cache_clear()
    here = rewards_score(model=model, prompts=prompts, responses=responses)
    train_here, heldout_here = dataset_elements(dataset)

    # Another machine: nothing local, the same database and bucket.
    machine_b = move_to_another_machine(settings, tmp_path)
    shutil.rmtree(machine_a)
    cache_clear()
    assert rewards_score(model=model, prompts=prompts, responses=responses) == pytest.approx(here, abs=1e-6)
    assert (len(train_here), len(heldout_here)) == tuple(map(len, dataset_elements(dataset)))
    assert sorted(p.name for p in (machine_b / "cache").iterdir()) == [
        f"datasets%2F{dataset.pk}%2Felements.jsonl", f"runs%2F{run.pk}"]

    # ...which also trains on from it: the dataset and the starting adapter come from the bucket.
    tuned = reward_run_execute_here(run=reward_run_create(dataset=dataset, fine_tune_from=model, config=REWARD,
                                                          enqueue=False, min_heldout=0), progress=False)
    assert tuned.status == "succeeded", tuned.error
    assert tuned.config["init_adapter"] == model.adapter_path
    assert f"preflab/runs/{tuned.pk}/adapter_model.safetensors" in object_keys(bucket)
    assert RewardModel.objects.get(run=tuned).parent == model

