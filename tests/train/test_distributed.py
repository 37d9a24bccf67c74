"""Training on several replicas: MultiWorkerMirroredStrategy over two processes on loopback, MirroredStrategy,
per-replica shares of the balanced batches, chief-only writes, resume, JAX's DataParallel.

The processes train the tests' small backbone (``tests/tiny_backbone.py``, a plugin every process
loads) at 32 px from random weights for one step per epoch on generated crops; the checks compare
weights between runs that must compute the same thing, never accuracy.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from dfembed.core.errors import ConfigError
from dfembed.train.config import TrainConfig
from tests.support import REPO

pytestmark = pytest.mark.slow

#: Largest difference allowed between weights of runs that compute the same steps in another
#: process layout (the all-reduce adds the replicas' gradients in another order).
WEIGHT_TOLERANCE = 1e-5
FLAGS = ["--backbone", "tiny", "--image-size", "32", "--weights", "none", "--batch-size", "8",
         "--steps-per-epoch", "1", "--val-fraction", "0", "--workers", "1", "--embed-batch-size", "8",
         "--no-tensorboard", "-q"]
SMALL = TrainConfig(backbone="tiny", image_size=32, weights="none", batch_size=8, steps_per_epoch=1, val_fraction=0.0,
                    workers=1, embed_batch_size=8, tensorboard=False, epochs=2)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight real (darker) and eight fake (brighter) noise crops of 40 px, each its own group."""
    root = tmp_path_factory.mktemp("crops")
    for label, level in (("real", 60), ("fake", 140)):
        (root / label).mkdir()
        for k in range(8):
            image = np.random.default_rng(level + k).normal(level, 40, (40, 40, 3))
            cv2.imwrite(str(root / label / f"{label}{k}-000-00.png"), np.clip(image, 0, 255).astype(np.uint8))
    return root


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
           "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "-1"}
    return {**env, **extra}


def _workers(data: Path, out: Path, *flags: str) -> list[subprocess.Popen]:
    """Start the two workers of a loopback cluster running the same train.py command."""
    cluster = {"worker": [f"localhost:{port}" for port in _free_ports(2)]}
    return [subprocess.Popen([sys.executable, "train.py", str(data), str(out / "model.h5"), str(out / "svm.pkl"),
                              *FLAGS, "--distribute", "multi-worker", *flags], cwd=REPO,
                             env=_env(TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker",
                                                                                         "index": i}})),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for i in range(2)]


REFERENCE = """
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from pathlib import Path
from dfembed.train.run import run_train
from tests.train.test_distributed import SMALL
import dataclasses
out = Path(sys.argv[2])
run_train(Path(sys.argv[1]), out / "model.h5", out / "svm.pkl", dataclasses.replace(SMALL, distribute="mirrored"))
"""


def _wait(processes: list[subprocess.Popen]) -> list[str]:
    outputs = [p.communicate(timeout=540)[0] for p in processes]
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-3000:]
    return outputs


def _weights(path: Path) -> list[np.ndarray]:
    import keras

    return keras.models.load_model(path, compile=False).get_weights()


def _largest_difference(one: list[np.ndarray], two: list[np.ndarray]) -> float:
    return max(float(np.abs(a - b).max()) for a, b in zip(one, two))


def test_two_workers_train_the_weights_of_one_process_with_two_replicas_and_resume(
    data: Path, tmp_path: Path
) -> None:
    reference, multi = tmp_path / "reference", tmp_path / "multi"
    reference.mkdir()
    multi.mkdir()
    # The one-process reference runs beside both phases of the cluster: its two epochs take as long as they do.
    started = subprocess.Popen([sys.executable, "-c", REFERENCE, str(data), str(reference)], cwd=REPO, env=_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait(_workers(data, multi, "--epochs", "1"))
        outputs = _wait(_workers(data, multi, "--epochs", "2", "--resume", "--force"))
        _wait([started])
    finally:
        started.kill()  # only when a phase failed: an ended process is left alone
    assert "as a worker of a multi-worker run" in outputs[1]
    record = json.loads((multi / "model.dfembed-train.json").read_text())
    assert record["distribution"] == {"mode": "multi-worker", "replicas": 2, "workers": 2}
    assert [h["epoch"] for h in record["summary"]["history"]] == [1, 2]  # epoch 2 resumed the checkpoint of 1
    assert sorted(p.name for p in multi.iterdir()) == sorted(p.name for p in reference.iterdir())
    trained = _weights(multi / "model.h5")
    assert _largest_difference(trained, _weights(reference / "model.h5")) <= WEIGHT_TOLERANCE
    import keras

    from dfembed.model.network import build_embedding_model

    keras.utils.set_random_seed(SMALL.seed)
    initial = build_embedding_model("tiny", image_size=32, weights="none").get_weights()
    assert _largest_difference(trained, initial) > 1e-3  # it did train
    from dfembed.model.safe_bundle import load_classifier

    load_classifier(multi / "svm.pkl").check_model(multi / "model.h5")  # the chief's classifier fits its model


def test_a_replica_share_is_the_slice_of_the_batch_and_balanced(data: Path) -> None:
    from dfembed.train.augment import Augmenter, AugmentParams
    from dfembed.train.batches import BalancedBatches
    from dfembed.train.crops import list_crops

    batches = BalancedBatches(list_crops(data).crops, 8, Augmenter(AugmentParams.from_config(SMALL)), seed=3)
    images, labels = batches.batch(1, 0)
    for replica in range(2):
        share, share_labels = batches.replica_batch(1, 0, replica, 2)
        assert np.array_equal(share, images[4 * replica:4 * replica + 4])
        assert share_labels.tolist() == [0.0, 1.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="no balanced share"):
        batches.replica_batch(1, 0, 0, 3)


def test_mirrored_on_one_replica_trains_what_fit_trains(data: Path, tmp_path: Path) -> None:
    from dfembed.train.run import run_train

    one = dataclasses.replace(SMALL, epochs=1)
    run_train(data, tmp_path / "fit.h5", tmp_path / "fit.pkl", dataclasses.replace(one, distribute="none"))
    summary = run_train(data, tmp_path / "loop.h5", tmp_path / "loop.pkl", dataclasses.replace(one, distribute="mirrored"))
    assert summary.chief and summary.epochs == 1
    assert _largest_difference(_weights(tmp_path / "fit.h5"), _weights(tmp_path / "loop.h5")) <= WEIGHT_TOLERANCE


JAX_RUNS = """
import dataclasses, os, sys
from pathlib import Path
import keras
import numpy as np
from dfembed.train.run import run_train
from tests.train.test_distributed import SMALL
out = Path(sys.argv[2])
one = dataclasses.replace(SMALL, epochs=1)
single = run_train(Path(sys.argv[1]), out / "one.h5", out / "one.pkl", dataclasses.replace(one, distribute="none"))
split = run_train(Path(sys.argv[1]), out / "two.h5", out / "two.pkl", dataclasses.replace(one, distribute="mirrored"))
weights = [keras.models.load_model(out / f"{name}.h5", compile=False).get_weights() for name in ("one", "two")]
print("DIFFERENCE", max(float(np.abs(a - b).max()) for a, b in zip(*weights)))
print("DEVICES", len(keras.distribution.list_devices()))
"""


def test_jax_data_parallel_over_two_devices_trains_the_one_device_weights(data: Path, tmp_path: Path) -> None:
    pytest.importorskip("jax")
    env = _env(KERAS_BACKEND="jax", XLA_FLAGS="--xla_force_host_platform_device_count=2")
    done = subprocess.run([sys.executable, "-c", JAX_RUNS, str(data), str(tmp_path)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "DEVICES 2" in done.stdout
    difference = float(done.stdout.split("DIFFERENCE")[1].split()[0])
    # one program over both devices: the loss and batch statistics are the whole batch's, as on one device
    assert difference <= WEIGHT_TOLERANCE
    record = json.loads((tmp_path / "two.dfembed-train.json").read_text())
    assert record["distribution"] == {"mode": "data-parallel", "replicas": 2, "workers": 1}


@pytest.mark.parametrize(("mode", "env", "message"), [
    ("multi-worker", {}, "needs TF_CONFIG"),
    ("auto", {"TF_CONFIG": "{not json"}, "TF_CONFIG is not a TensorFlow cluster description"),
])
def test_bad_cluster_settings_are_one_line_errors(mode: str, env: dict[str, str], message: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from dfembed.train.devices import resolve_distribution

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=message):
        resolve_distribution(mode, 8)


def test_a_batch_that_does_not_split_into_balanced_shares_is_refused() -> None:
    from dfembed.train.devices import Distribution, _check_batch

    with pytest.raises(ConfigError, match="use a multiple of 8 of at least 16"):
        _check_batch(Distribution("mirrored", replicas=4), 12)
