"""Running a stage on a Ray cluster: importing Ray, joining or starting a cluster, shared storage checks.

Ray is an optional extra (``pip install -e ".[ray]"``), imported only by the stages' Ray
engines (``--engine ray``) through :func:`import_ray`, so a missing Ray is a one-line error
that says how to install it. :func:`ray_cluster` joins a running cluster (``--ray-address
auto`` or ``HOST:PORT``) or starts a local one, and shuts down only what it started.

A Ray worker runs on any node, so the files it reads or writes must be on storage that
every node mounts at the same path. The driver writes a token file into such a folder
(:class:`SharedFolderToken`) and each worker checks that it sees it
(:func:`check_shared_token`) before any work; inputs are checked by their sizes
(:func:`check_visible_files`). A worker that cannot see them fails the job with a message
that names the node and the folder.

Worker processes end with the job: Ray kills a job's actors when their driver ends, also
after ``kill -9`` (its ownership model), and each actor also calls
:func:`~dfembed.core.workers.die_with_parent` on its parent (the node's raylet), so a
killed node manager does not leave it running.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

from dfembed.core.errors import ConfigError, InputError

log = logging.getLogger(__name__)

#: How to install the optional engine, quoted by every message that needs it.
RAY_INSTALL = "pip install -e \".[ray]\" (or pip install 'ray[default]>=2.40,<3')"
#: Object store of a local cluster started by dfembed, in bytes: crops and face batches pass through it.
LOCAL_OBJECT_STORE_BYTES = 512 * 1024 * 1024
TOKEN_PREFIX = ".dfembed-shared-check-"
#: Seconds to reach a cluster's address before Ray is asked to join it (an unreachable
#: address would otherwise hang); ``DFEMBED_RAY_CONNECT_TIMEOUT`` sets another.
RAY_CONNECT_TIMEOUT_S = 10.0
#: Where ``ray start`` leaves the address that ``--ray-address auto`` joins.
RAY_CURRENT_CLUSTER = Path("/tmp/ray/ray_current_cluster")


def import_ray() -> ModuleType:
    """Import Ray, or fail with a message that says how to install it.

    Returns:
        The ``ray`` module.

    Raises:
        ConfigError: Ray is not installed.
    """
    try:
        import ray
    except ImportError as err:
        raise ConfigError(f"--engine ray needs Ray, which is not installed ({err}); install it with: "
                          f"{RAY_INSTALL}") from err
    return ray


@contextlib.contextmanager
def ray_cluster(address: str | None, num_cpus: int | None = None) -> Iterator[ModuleType]:
    """Join the Ray cluster at ``address``, or start a local one; yield the ``ray`` module.

    A cluster this process is connected to already (a test session's, a notebook's) is
    used as it is and left running. Otherwise ``address`` (``auto``: the cluster this
    machine belongs to, as ``ray start`` left it; or ``HOST:PORT``) is joined, and
    ``None`` starts a local cluster with this machine's cores (or ``num_cpus``), no
    dashboard, that is shut down at the end.

    Args:
        address: ``"auto"``, ``"HOST:PORT"``, ``"ray://HOST:PORT"``, or ``None`` for a local cluster.
        num_cpus: CPUs of a local cluster (``None``: all of this machine's).

    Yields:
        The ``ray`` module, connected.

    Raises:
        ConfigError: Ray is missing, or the cluster cannot be joined or started.
    """
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    kwargs: dict[str, Any] = {"configure_logging": False, "include_dashboard": False}
    if address is None:
        kwargs.update(num_cpus=num_cpus, object_store_memory=LOCAL_OBJECT_STORE_BYTES)
    else:
        check_reachable(address)
    where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
    try:
        ray.init(address=address, **kwargs)
    except ray.exceptions.AuthenticationError as err:
        raise ConfigError(f"{where} refused this process's authentication: either run `RAY_AUTH_MODE=disabled ray "
                          "start --head` there and run dfembed with RAY_AUTH_MODE=disabled, or give dfembed the "
                          "cluster's token (RAY_AUTH_TOKEN or ~/.ray/auth_token)") from err
    except (ConnectionError, RuntimeError, ValueError, ray.exceptions.RayError) as err:
        raise ConfigError(f"cannot connect to {where}: {' '.join(str(err).split())[:300]}") from err
    log.info("Ray cluster: %s", describe_cluster(ray))
    try:
        yield ray
    finally:
        ray.shutdown()


def check_reachable(address: str, timeout: float | None = None) -> None:
    """Refuse, within ``timeout`` seconds, a cluster address that no process answers at.

    Args:
        address: ``--ray-address``: ``auto`` (the address ``ray start`` left in
            :data:`RAY_CURRENT_CLUSTER`, or ``RAY_ADDRESS``), ``HOST:PORT`` or ``ray://HOST:PORT``.
            An ``auto`` with no address known is left to Ray, which says so at once.
        timeout: Seconds to wait for the connection (default :data:`RAY_CONNECT_TIMEOUT_S`,
            or ``DFEMBED_RAY_CONNECT_TIMEOUT``).

    Raises:
        ConfigError: The address is malformed, or nothing accepts a connection there in time.
    """
    resolved = _resolve_address(address)
    if resolved is None:
        return
    host, _, port = resolved.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--ray-address {address!r} is not auto, HOST:PORT or ray://HOST:PORT")
    wait = timeout if timeout is not None else float(os.environ.get("DFEMBED_RAY_CONNECT_TIMEOUT",
                                                                    RAY_CONNECT_TIMEOUT_S))
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=wait).close()
    except OSError as err:
        reason = "no answer" if isinstance(err, TimeoutError) else (err.strerror or str(err))
        raise ConfigError(f"cannot reach the Ray cluster at {resolved} within {wait:g} s ({reason}): check "
                          "--ray-address, that `ray start --head` runs there and that its port is open") from err


def _resolve_address(address: str) -> str | None:
    """The ``HOST:PORT`` that ``address`` stands for; ``None`` for an ``auto`` with none known."""
    if address != "auto":
        return address
    if os.environ.get("RAY_ADDRESS"):
        return os.environ["RAY_ADDRESS"]
    try:
        return RAY_CURRENT_CLUSTER.read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def describe_cluster(ray: ModuleType) -> str:
    """One line on the connected cluster: nodes, CPUs, GPUs."""
    resources = ray.cluster_resources()
    nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
    return f"{nodes} node(s), {resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs"


def cluster_count(ray: ModuleType, resource: str) -> int:
    """How many of ``resource`` (``"CPU"``, ``"GPU"``) the connected cluster has, as a whole number."""
    return int(ray.cluster_resources().get(resource, 0))


def node_name() -> str:
    """This machine's host name and address, as messages from a worker name it."""
    host = socket.gethostname()
    try:
        address = socket.gethostbyname(host)
    except OSError:
        return host
    return f"{host} ({address})"


class SharedFolderToken:
    """A token file in a folder that every Ray worker must see (a context manager).

    The driver writes ``.dfembed-shared-check-<random>`` with the token inside, the workers
    check it with :func:`check_shared_token`, and the file is deleted on exit; token files
    that a killed driver left are deleted on entry (the caller holds the folder's lock).

    Args:
        folder: The folder (it must exist).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.token = secrets.token_hex(16)
        self.path = self.folder / f"{TOKEN_PREFIX}{self.token}"

    def __enter__(self) -> SharedFolderToken:
        for stale in self.folder.glob(f"{TOKEN_PREFIX}*"):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
        self.path.write_text(self.token, encoding="ascii")
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def check_shared_token(folder: Path, token: str, what: str) -> None:
    """In a worker: check that ``folder`` holds the driver's token, i.e. is the driver's folder.

    Args:
        folder: The folder, by the driver's absolute path.
        token: The token of the driver's :class:`SharedFolderToken`.
        what: How messages call the folder (``"DST"``).

    Raises:
        InputError: The token file is missing or holds another token: this node sees another
            folder (or none) at that path.
    """
    path = Path(folder) / f"{TOKEN_PREFIX}{token}"
    try:
        seen = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        seen = None
    if seen != token:
        raise InputError(
            f"{what} {folder} is not reachable from the Ray worker on node {node_name()} (the driver's check "
            f"file {path.name} is not there): {what} must be storage that every node of the cluster mounts at "
            "the same path (NFS, a parallel or cloud file system); put it there, or run with --engine local"
        )


def check_visible_files(files: Sequence[tuple[str, int]], what: str) -> None:
    """In a worker: check that the driver's input files are here, with the sizes the driver saw.

    Args:
        files: ``(absolute path, size in bytes)`` of a few input files.
        what: How messages call the inputs (``"TEST"``).

    Raises:
        InputError: A file is missing or has another size on this node.
    """
    for path, size in files:
        try:
            seen = os.stat(path).st_size
        except OSError:
            seen = None
        if seen != size:
            state = "missing" if seen is None else f"{seen} bytes, not {size}"
            raise InputError(
                f"{what} is not reachable from the Ray worker on node {node_name()} ({path}: {state}): the "
                f"workers read the files themselves, so {what} must be storage that every node of the cluster "
                "mounts at the same path; put it there, or run with --engine local"
            )


def remote_error(err: BaseException) -> BaseException:
    """The exception a Ray task raised in its worker, without Ray's wrapper (for a one-line message).

    Args:
        err: What ``ray.get`` raised.

    Returns:
        The worker's own exception when Ray carried one (``RayTaskError.cause``), else ``err``.
    """
    cause = getattr(err, "cause", None)
    return cause if isinstance(cause, BaseException) else err


def restarted(ray: ModuleType, worker: Any, patience: float = 120.0) -> bool:
    """After a worker (an actor with a ``setup()`` method) died: whether Ray restarted it, or gave it up.

    Calls ``setup()`` until it answers, while Ray says the actor is only unavailable
    (restarting), for at most ``patience`` seconds.

    Args:
        ray: The connected ``ray`` module.
        worker: The actor handle.
        patience: Seconds to wait for a restart.

    Returns:
        ``True`` once the restarted worker is set up again, ``False`` when Ray gave it up.

    Raises:
        Exception: The worker's own error in ``setup()`` (e.g. its new node does not see
            the shared folder), without Ray's wrapper.
    """
    deadline = time.monotonic() + patience
    while True:
        try:
            ray.get(worker.setup.remote())
            return True
        except ray.exceptions.RayTaskError as err:
            raise remote_error(err) from None
        except ray.exceptions.ActorUnavailableError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)
        except ray.exceptions.RayError:
            return False
