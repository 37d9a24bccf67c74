"""The run folder ``<OUT_H5 stem>.run/``: its typed state, its files, and the resume policy.

``state.json`` records the last completed epoch, the checkpoint that holds it, the
per-epoch history, the best validation AUC with its weights file and the training
configuration. It is written after the files it names, so a run killed at any moment
leaves a state that names complete files. :func:`check_resumable` decides whether a
run may continue with the options given now.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dfembed.core.atomic import atomic_write_text, remove_stale_temps
from dfembed.core.config import json_ready
from dfembed.core.errors import ConfigError, InputError
from dfembed.core.jsonfile import read_json
from dfembed.train.config import TrainConfig

log = logging.getLogger(__name__)

STATE_NAME = "state.json"
CHECKPOINT_GLOB = "epoch-*.keras"
BEST_WEIGHTS_GLOB = "best-epoch-*.weights.h5"
#: Options that change the network; a run cannot be resumed with other values.
ARCHITECTURE_KEYS = ("backbone", "image_size", "embedding_dim", "dropout", "l2", "margin", "distance", "batch_size",
                     "temporal", "temporal_network", "modality")
#: Options that decide the train/validation split; another value would leak validation groups.
SPLIT_KEYS = ("seed", "val_fraction", "pseudo_fakes")


@dataclass
class RunState:
    """What ``state.json`` holds.

    Attributes:
        epoch: Epochs completed (1-based number of the last one; 0 before any).
        checkpoint: File name of the last checkpoint in the run folder.
        history: One mapping of metric → value per completed epoch (``None``: undefined).
        best_auc: Best validation AUC so far, ``None`` without validation.
        best_epoch: The epoch that reached it.
        best_weights: File name of that epoch's weights in the run folder.
        config: The training configuration of the run, as plain data.
    """

    epoch: int = 0
    checkpoint: str | None = None
    history: list[dict[str, float | None]] = field(default_factory=list)
    best_auc: float | None = None
    best_epoch: int | None = None
    best_weights: str | None = None
    config: dict[str, Any] = field(default_factory=dict)


def best_weights_name(epoch: int) -> str:
    """File name of the best weights saved after 1-based ``epoch``.

    One name per epoch, so that ``state.json`` (written after the file) always names
    weights that match its ``best_epoch``, even if the run is killed in between.
    """
    return f"best-epoch-{epoch:03d}.weights.h5"


def checkpoint_name(epoch: int) -> str:
    """File name of the checkpoint saved after 1-based ``epoch``."""
    return f"epoch-{epoch:03d}.keras"


def read_state(run_dir: Path) -> RunState | None:
    """The run folder's ``state.json``, or ``None`` when there is none.

    Raises:
        InputError: The file is not valid JSON or not a run state; the message names the field.
    """
    path = run_dir / STATE_NAME
    if not path.is_file():
        return None
    return _state_from(read_json(path, "a run state", "use --force to start over"), path)


def _state_from(data: Any, path: Path) -> RunState:
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object (a run state), got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(RunState)}
    state = RunState(**{k: v for k, v in data.items() if k in names})
    checks = {
        "epoch": _is_count(state.epoch),
        "checkpoint": state.checkpoint is None
        or (_is_count(state.epoch) and state.checkpoint == checkpoint_name(state.epoch)),
        "history": isinstance(state.history, list) and all(_is_metrics(h) for h in state.history),
        "best_auc": state.best_auc is None or _is_number(state.best_auc),
        "best_epoch": state.best_epoch is None
        or (_is_count(state.best_epoch) and _is_count(state.epoch) and state.best_epoch <= state.epoch),
        "best_weights": state.best_weights is None
        or (_is_count(state.best_epoch) and state.best_weights == best_weights_name(state.best_epoch)),
        "config": isinstance(state.config, dict) and _saved_config_ok(state.config),
    }
    wrong = [name for name, ok in checks.items() if not ok]
    if wrong:
        raise InputError(f"{path}: not a valid run state (bad {', '.join(wrong)}); use --force to start over")
    return state


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_metrics(entry: Any) -> bool:
    """An epoch's history entry: metric name → number (or ``None`` for an undefined metric)."""
    return isinstance(entry, dict) and all(isinstance(k, str) and (v is None or _is_number(v))
                                           for k, v in entry.items())


def _saved_config_ok(saved: dict[str, Any]) -> bool:
    """The saved options that resuming computes with (not only compares) have their types."""
    return (("epochs" not in saved or (_is_count(saved["epochs"]) and saved["epochs"] >= 1))
            and ("steps_per_epoch" not in saved or saved["steps_per_epoch"] is None or _is_count(saved["steps_per_epoch"]))
            and ("schedule" not in saved or isinstance(saved["schedule"], str)))


def write_state(run_dir: Path, state: RunState) -> None:
    """Write ``state.json`` atomically (NaN is written as ``null``)."""
    atomic_write_text(run_dir / STATE_NAME, json.dumps(json_ready(state), indent=2) + "\n")


def has_checkpoint(run_dir: Path) -> bool:
    """Whether the run folder holds a state to resume from."""
    return (run_dir / STATE_NAME).is_file()


def prepare_run_dir(run_dir: Path, force: bool, resume: bool) -> None:
    """Create the run folder, remove a killed run's temporary files and, when starting
    over with ``force``, the earlier run's checkpoints and state (only files a training run writes)."""
    if force and not resume and run_dir.is_dir():
        for path in [*run_dir.glob(CHECKPOINT_GLOB), run_dir / STATE_NAME, *run_dir.glob(BEST_WEIGHTS_GLOB)]:
            if path.is_file():
                path.unlink()
    run_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(run_dir)


def resume_checkpoint(run_dir: Path, config: TrainConfig) -> tuple[Path, RunState]:
    """The checkpoint to resume from and the state it belongs to, after every check.

    Args:
        run_dir: The run folder.
        config: The options of the run that continues.

    Returns:
        ``(checkpoint file, state)``.

    Raises:
        InputError: No state, or its checkpoint is missing or lies outside the run folder.
        ConfigError: The options differ from the run's where that is not allowed.
    """
    state = read_state(run_dir)
    if state is None:
        raise InputError(f"nothing to resume: {run_dir} holds no checkpoint ({STATE_NAME})")
    check_resumable(state, config)
    if not state.checkpoint:
        raise InputError(f"{run_dir / STATE_NAME} names no checkpoint; use --force to start over")
    checkpoint = run_dir / state.checkpoint
    if not checkpoint.resolve().is_relative_to(run_dir.resolve()):
        raise InputError(f"{run_dir / STATE_NAME} names a checkpoint outside the run folder: {state.checkpoint}")
    if not checkpoint.is_file():
        raise InputError(f"checkpoint {checkpoint} named in {run_dir / STATE_NAME} is missing")
    return checkpoint, state


def check_resumable(state: RunState, config: TrainConfig) -> None:
    """Refuse to continue a run with options that would change its model or split.

    Args:
        state: The run's state.
        config: The options given now.

    Raises:
        ConfigError: Other architecture or split options, a cosine schedule resumed past
            its horizon or with other steps per epoch, or no epochs left to run.
    """
    saved = state.config
    _refuse_changes(saved, config, ARCHITECTURE_KEYS, "cannot resume with other model options")
    # Another seed or fraction would move validation groups into training (a leak).
    _refuse_changes(saved, config, SPLIT_KEYS, "cannot resume with another train/validation split")
    changed = [key for key in ("lr", "momentum", "nesterov", "schedule")
               if key in saved and saved[key] != getattr(config, key)]
    if changed:
        log.warning("resuming with the checkpoint's optimiser; changed %s not applied", ", ".join(changed))
    if saved.get("schedule") == "cosine":
        _check_cosine_horizon(saved, config)
    elif "steps_per_epoch" in saved and saved["steps_per_epoch"] != config.steps_per_epoch:
        log.warning("resuming with steps_per_epoch %s instead of %s", config.steps_per_epoch, saved["steps_per_epoch"])
    if state.epoch >= config.epochs:
        raise ConfigError(f"the run has completed {state.epoch} epochs already; raise --epochs to continue")


def _refuse_changes(saved: dict[str, Any], config: TrainConfig, keys: Sequence[str], message: str) -> None:
    wrong = [f"{key}: checkpoint {saved.get(key)!r}, now {getattr(config, key)!r}"
             for key in keys if key in saved and saved[key] != json_ready(getattr(config, key))]
    if wrong:
        raise ConfigError(f"{message}: " + "; ".join(wrong))


def _check_cosine_horizon(saved: dict[str, Any], config: TrainConfig) -> None:
    """Refuse a resume that would run past the end of the checkpoint's cosine schedule.

    The schedule is saved with the optimiser and decays to 0 over the first run's
    ``epochs × steps_per_epoch`` steps; later epochs would all train at learning rate 0.
    """
    if "steps_per_epoch" in saved and saved["steps_per_epoch"] != config.steps_per_epoch:
        raise ConfigError(
            f"cannot resume a cosine-schedule run with another steps_per_epoch (checkpoint "
            f"{saved['steps_per_epoch']!r}, now {config.steps_per_epoch!r}): its schedule length is fixed"
        )
    if "epochs" in saved and config.epochs > int(saved["epochs"]):
        raise ConfigError(
            f"cannot resume a cosine-schedule run for {config.epochs} epochs: its learning rate decays to 0 "
            f"at epoch {saved['epochs']}, so the extra epochs would not train; start a new run instead"
        )
    if "epochs" in saved and config.epochs < int(saved["epochs"]):
        log.warning("stopping a cosine-schedule run at epoch %d of %s; its learning rate will not reach 0",
                    config.epochs, saved["epochs"])


def best_weights_path(run_dir: Path, state: RunState) -> Path | None:
    """The best epoch's weights file named in the state, ``None`` when there is no best epoch.

    Raises:
        InputError: The state names a best epoch whose weights file is missing or outside the folder.
    """
    if not state.best_epoch:
        return None
    best = run_dir / str(state.best_weights or "")
    inside = best.resolve().is_relative_to(run_dir.resolve())
    if not state.best_weights or not inside or not best.is_file():
        raise InputError(f"{run_dir / STATE_NAME} names best epoch {state.best_epoch} but its weights file "
                         f"{best} is missing; use --keep last, or --force to start over")
    return best
