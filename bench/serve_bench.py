#!/usr/bin/env python
"""``dfembed serve`` under load, against ``inference.py FILE MODEL SVM`` run once per file.

Starts the service on a free loopback port (a subprocess: ``dfembed serve``) with a tiny
model (B0 at 64 px, random weights, an SVM fitted on random crops: nothing is downloaded)
or the one given, then:

1. **below the limit**: ``--clients`` concurrent clients (at most the service's workers +
   queue) each send ``--requests`` files, alternating a face photograph (matplotlib's
   sample) and a short video made from it; every answer should be 200;
2. **above the limit**: twice the service's capacity plus two clients send at once; the
   extra requests should be clean 429s (with ``Retry-After``), nothing else;
3. **control**: ``inference.py FILE MODEL SVM`` once per file (a new process that loads the
   model and the detector each time).

Prints requests/s, p50/p95 latency, status counts, the server's resident memory (the
server process and its workers) before and after, and the control's seconds per file.

    .venv/bin/python bench/serve_bench.py
    .venv/bin/python bench/serve_bench.py --clients 4 --requests 6 --workers 2 --queue 2
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("serve_bench")


def tiny_model(root: Path) -> tuple[Path, Path]:
    """A B0 at 64 px (random weights) and a linear SVM fitted on random crops, saved in ``root``."""
    import keras

    from dfembed.faces.config import CropConfig
    from dfembed.model.classifier import ClassifierBundle, EmbeddingSVM, save_bundle
    from dfembed.model.network import build_embedding_model, embed_images, save_model

    keras.utils.set_random_seed(0)
    model = build_embedding_model("b0", image_size=64, weights="none", embedding_dim=16)
    path = save_model(model, root / "model.h5")
    crops = np.random.default_rng(0).integers(0, 256, (12, 64, 64, 3)).astype(np.uint8)
    svm = EmbeddingSVM(random_state=0).fit(embed_images(model, crops, 12), [k % 2 for k in range(12)])
    crop = dataclasses.asdict(CropConfig(size=64, faces="all", frames_per_video=8))
    bundle = ClassifierBundle(svm, 16, "b0", 64, crop_config=crop)
    return path, save_bundle(bundle, root / "svm.pkl", models={"model": path})


def media_files(root: Path) -> list[Path]:
    """The face photograph matplotlib ships, and a 2-second video (30 frames at 15 fps) made from it."""
    import cv2
    import matplotlib

    photo = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    image = cv2.imread(str(photo))
    video = root / "face.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 15.0, image.shape[1::-1])
    for k in range(30):
        writer.write(np.roll(image, 2 * k, axis=1))
    writer.release()
    return [photo, video]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(model: Path, svm: Path, port: int, args: argparse.Namespace) -> subprocess.Popen:
    """``dfembed serve`` in a subprocess, once /v1/health answers."""
    import httpx

    command = [sys.executable, "-m", "dfembed", "serve", str(model), str(svm), "--port", str(port), "-q",
               "--workers", str(args.workers), "--queue", str(args.queue)]
    server = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.5)
    server.kill()
    raise SystemExit("the service did not start within 180 s")


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children (the workers), MiB, from /proc."""
    total = 0.0
    for p in [pid, *_children(pid)]:
        try:
            text = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        total += next(int(line.split()[1]) for line in text.splitlines() if line.startswith("VmRSS")) / 1024
    return total


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = (task / "children").read_text().split() if (task / "children").exists() else []
        for child in map(int, children):
            found += [child, *_children(child)]
    return found


def one_request(url: str, path: Path) -> tuple[int, float]:
    import httpx

    start = time.perf_counter()
    with path.open("rb") as handle:
        response = httpx.post(url, files={"file": (path.name, handle)}, timeout=300)
    if response.status_code == 429:
        assert "retry-after" in response.headers
    return response.status_code, time.perf_counter() - start


def load(url: str, files: list[Path], clients: int, requests: int) -> dict[str, object]:
    """``clients`` threads each sending ``requests`` files; latency and status counts."""
    jobs = [files[(c + r) % len(files)] for c in range(clients) for r in range(requests)]
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda path: one_request(url, path), jobs))
    wall = time.perf_counter() - start
    latencies = np.array([seconds for status, seconds in results if status == 200])
    statuses: dict[int, int] = {}
    for status, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    return {"requests": len(jobs), "wall_s": wall, "req_per_s": statuses.get(200, 0) / wall, "statuses": statuses,
            "p50_s": float(np.percentile(latencies, 50)) if len(latencies) else None,
            "p95_s": float(np.percentile(latencies, 95)) if len(latencies) else None}


def control(files: list[Path], model: Path, svm: Path) -> list[float]:
    """Seconds of ``inference.py FILE MODEL SVM`` for each file (a process per file)."""
    seconds = []
    for path in files:
        start = time.perf_counter()
        subprocess.run([sys.executable, "inference.py", str(path), str(model), str(svm), "-q"], cwd=REPO, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="MODEL_H5 (with --svm); default: a tiny random model")
    parser.add_argument("--svm", type=Path)
    parser.add_argument("--clients", type=int, default=3, help="concurrent clients below the limit (default 3)")
    parser.add_argument("--requests", type=int, default=4, help="files each client sends (default 4)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--queue", type=int, default=2)
    args = parser.parse_args()
    capacity = args.workers + args.queue
    args.clients, args.requests = min(args.clients, capacity), min(args.requests, 50)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        model, svm = (args.model, args.svm) if args.model else tiny_model(Path(tmp))
        files = media_files(Path(tmp))
        port = free_port()
        server = start_server(model, svm, port, args)
        try:
            url = f"http://127.0.0.1:{port}/v1/score"
            before = rss_mib(server.pid)
            below = load(url, files, args.clients, args.requests)
            above = load(url, files, 2 * capacity + 2, 1)
            after = rss_mib(server.pid)
        finally:
            server.terminate()
            server.wait(30)
        controls = control(files, model, svm)
    report(args, below, above, before, after, controls, files)


def report(args: argparse.Namespace, below: dict, above: dict, before: float, after: float,
           controls: list[float], files: list[Path]) -> None:
    log.info("machine: %d CPUs, load average %s", os.cpu_count(), " ".join(f"{v:.2f}" for v in os.getloadavg()))
    log.info("service: %d worker(s), queue %d", args.workers, args.queue)
    log.info("below the limit: %d clients x %d files: %.2f req/s, p50 %.2f s, p95 %.2f s, statuses %s",
             args.clients, args.requests, below["req_per_s"], below["p50_s"], below["p95_s"], below["statuses"])
    log.info("above the limit: %d clients at once: statuses %s", 2 * (args.workers + args.queue) + 2,
             above["statuses"])
    log.info("server RSS (with workers): %.0f MiB before, %.0f MiB after", before, after)
    for path, seconds in zip(files, controls):
        log.info("control: inference.py %s MODEL SVM: %.2f s", path.name, seconds)


if __name__ == "__main__":
    main()
