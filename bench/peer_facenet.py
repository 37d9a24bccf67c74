#!/usr/bin/env python
"""facenet-pytorch's MTCNN (the DFDC winner's face detector) as a worker for ``crop_bench.py --peer``.

facenet-pytorch 2.6 pins torch 2.2 and NumPy < 2, which cannot share dfembed's environment,
so it runs here, in its own environment (``bench/requirements-peer.txt``), started by the
bench. It reads one JSON request per line on stdin and answers one JSON line on stdout:

* ``{"config": {"thresholds": [...], "min_face_size": 20, "factor": 0.709}}``: build the
  detector (answers ``{"torch": version, "facenet_pytorch": version, "threads": n}``);
* ``{"frames": "/dev/shm/....npy"}``: detect faces in an ``(N, H, W, 3)`` RGB ``uint8``
  batch (already resized by the bench, as dfembed resizes); answers
  ``{"seconds": detection time, "faces": [[[x1, y1, x2, y2, p], ...] per image]}``.

Only the detection call is timed, so the bench can leave the exchange out of the path's time.
Nothing here is imported by dfembed.
"""

from __future__ import annotations

import json
import sys
import time
from importlib import metadata


def main() -> None:
    import numpy as np
    import torch
    from facenet_pytorch import MTCNN

    detector = None
    for line in sys.stdin:
        request = json.loads(line)
        if "config" in request:
            cfg = request["config"]
            detector = MTCNN(keep_all=True, select_largest=False, post_process=False, device="cpu",
                             thresholds=cfg["thresholds"], min_face_size=cfg["min_face_size"],
                             factor=cfg["factor"])
            answer = {"torch": torch.__version__, "facenet_pytorch": metadata.version("facenet-pytorch"),
                      "threads": torch.get_num_threads()}
        else:
            frames = np.load(request["frames"])
            start = time.perf_counter()
            boxes, probs = detector.detect(frames)
            seconds = time.perf_counter() - start
            faces = [[] if b is None else [[*map(float, box), float(p)] for box, p in zip(b, q)]
                     for b, q in zip(boxes, probs)]
            answer = {"seconds": seconds, "faces": faces}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
