"""The native-stderr filter drops TensorFlow's load-time noise and keeps everything else."""

from __future__ import annotations

import pytest

import os
import subprocess
import sys
import threading

from dfembed.core.logs import filter_lines

NOISE = (
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    b"I0000 00:00:1795321612.412015   18753 port.cc:153] oneDNN custom operations are on.\n"
    b"E0000 00:00:1795321620.452219   18753 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)\n"
    b"E0000 00:00:1796124466.013723   22392 util.cc:131] oneDNN supports DT_BOOL only on platforms with AVX-512. "
    b"Falling back to the default Eigen-based implementation if present.\n"
)
KEPT = (
    b"E0000 00:00:1.0 1 op_kernel.cc:1] real error\n"
    b"Traceback (most recent call last):\n"
    b"  0%|          | 0/3\r 33%|###       | 1/3\r"
)


def _filter(chunks: list[bytes], no_gpu: bool) -> bytes:
    in_read, in_write = os.pipe()
    out_read, out_write = os.pipe()
    thread = threading.Thread(target=filter_lines, args=(in_read, out_write, no_gpu))
    thread.start()
    for chunk in chunks:
        os.write(in_write, chunk)
    os.close(in_write)
    thread.join(timeout=5)
    os.close(out_write)
    with os.fdopen(out_read, "rb") as handle:
        return handle.read()


def test_noise_dropped_and_rest_kept_byte_for_byte() -> None:
    assert _filter([NOISE + KEPT], no_gpu=True) == KEPT


def test_lines_split_across_reads() -> None:
    data = NOISE + KEPT
    chunks = [data[i : i + 7] for i in range(0, len(data), 7)]
    assert _filter(chunks, no_gpu=True) == KEPT


def test_cuinit_error_kept_where_a_gpu_exists() -> None:
    assert b"cuInit" in _filter([NOISE], no_gpu=False)


@pytest.mark.slow
def test_cli_process_stderr_is_quiet(tmp_path) -> None:
    code = (
        "from dfembed.core.logs import setup_logging; setup_logging();"
        "import tensorflow as tf; tf.constant(1) + 1;"
        "import sys; sys.stderr.write('kept\\n')"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, timeout=120)
    assert result.returncode == 0
    assert result.stderr.decode().splitlines() == ["kept"]
