"""The Ray helpers: the shared-folder token, the input-size check, the missing-Ray message, unwrapping errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from dfembed.core.cluster import (
    TOKEN_PREFIX,
    SharedFolderToken,
    check_shared_token,
    check_visible_files,
    import_ray,
    remote_error,
)
from dfembed.core.errors import ConfigError, InputError


def test_a_worker_sees_the_token_of_the_drivers_folder_and_it_goes_with_the_job(tmp_path: Path) -> None:
    (tmp_path / f"{TOKEN_PREFIX}left-by-a-killed-driver").write_text("old")
    with SharedFolderToken(tmp_path) as token:
        assert [p.name for p in tmp_path.iterdir()] == [f"{TOKEN_PREFIX}{token.token}"]
        check_shared_token(tmp_path, token.token, "DST")
        other = tmp_path / "other"
        other.mkdir()  # another node's folder at the same path: no token there
        with pytest.raises(InputError, match=r"DST .*other is not reachable from the Ray worker on node .*every node"):
            check_shared_token(other, token.token, "DST")
        with pytest.raises(InputError, match="not reachable"):
            check_shared_token(tmp_path, "another job's token", "DST")
    assert not list(tmp_path.glob(f"{TOKEN_PREFIX}*"))


def test_inputs_must_have_the_drivers_sizes_on_a_worker(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"12345")
    check_visible_files([(str(tmp_path / "a.png"), 5)], "TEST")
    with pytest.raises(InputError, match=r"TEST is not reachable .*a\.png: 5 bytes, not 6"):
        check_visible_files([(str(tmp_path / "a.png"), 6)], "TEST")
    with pytest.raises(InputError, match=r"b\.png: missing"):
        check_visible_files([(str(tmp_path / "b.png"), 1)], "TEST")


def test_without_ray_the_message_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigError, match=r'--engine ray needs Ray.*pip install -e "\.\[ray\]"'):
        import_ray()


def test_a_workers_own_error_is_unwrapped() -> None:
    class Wrapped(Exception):
        cause = OSError(28, "No space left on device", "/dst/a.jpg")

    assert isinstance(remote_error(Wrapped()), OSError)
    plain = RuntimeError("lost node")
    assert remote_error(plain) is plain


def _closed_port() -> int:
    """A local port that nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_address_nothing_answers_at_is_refused_at_once() -> None:
    import time

    from dfembed.core.cluster import check_reachable
    from dfembed.core.errors import ConfigError

    port = _closed_port()
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=rf"cannot reach the Ray cluster at 127\.0\.0\.1:{port} within 2 s"):
        check_reachable(f"127.0.0.1:{port}", timeout=2)
    with pytest.raises(ConfigError, match="cannot reach"):
        check_reachable(f"ray://127.0.0.1:{port}", timeout=2)
    assert time.perf_counter() - start < 5


def test_a_silent_address_times_out_within_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from dfembed.core import cluster
    from dfembed.core.errors import ConfigError

    waited = []

    def silent(address: tuple[str, int], timeout: float) -> None:
        waited.append(timeout)
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "create_connection", silent)
    monkeypatch.setenv("DFEMBED_RAY_CONNECT_TIMEOUT", "0.5")
    with pytest.raises(ConfigError, match=r"within 0\.5 s \(no answer\)"):
        cluster.check_reachable("10.1.2.3:6379")
    assert waited == [0.5]


def test_auto_probes_the_address_ray_start_left(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dfembed.core import cluster
    from dfembed.core.errors import ConfigError

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(cluster, "RAY_CURRENT_CLUSTER", tmp_path / "ray_current_cluster")
    cluster.check_reachable("auto", timeout=1)  # no address known: Ray itself says so
    port = _closed_port()
    (tmp_path / "ray_current_cluster").write_text(f"127.0.0.1:{port}\n")
    with pytest.raises(ConfigError, match=f"127.0.0.1:{port}"):
        cluster.check_reachable("auto", timeout=1)
    with pytest.raises(ConfigError, match="is not auto, HOST:PORT"):
        cluster.check_reachable("nonsense", timeout=1)
