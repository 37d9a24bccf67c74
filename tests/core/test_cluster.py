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
