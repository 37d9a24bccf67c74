"""The face modality of the training stage (``train.py DATA OUT_H5 OUT_PKL``, the default).

The frame model (:func:`dfembed.train.frames.train_frames`) on face crops, with the
face modality's steps: refuse a folder of audio tiles (``crop_face.py --audio`` writes
them into ``DST/audio``), augment the crops with noise, JPEG, blur and flips
(:class:`~dfembed.train.augment.Augmenter`), and store the crop stage's settings and its
detector's record (``DATA/dfembed-crop.json``) in the bundle, so that inference crops
faces the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dfembed.core.errors import InputError
from dfembed.crop.audio_manifest import AUDIO_MANIFEST_NAME, AUDIO_RECORD_NAME
from dfembed.crop.manifest import MANIFEST_NAME
from dfembed.model.classifier import ClassifierBundle
from dfembed.train.augment import Augmenter, AugmentParams
from dfembed.train.config import TrainConfig
from dfembed.train.data import TrainData, read_crop_config, read_crop_detector
from dfembed.train.frames import frame_distribution, train_frames
from dfembed.train.modality import BundleSettings, FrameSteps, Modality, TrainJob
from dfembed.train.outputs import TrainSummary


def refuse_audio_tiles(data: Path) -> None:
    """Refuse a folder of audio tiles trained as faces.

    Raises:
        InputError: The folder's reports say it holds audio tiles and no face crops; the message says what to run.
    """
    tiles = (data / AUDIO_MANIFEST_NAME).is_file() or (data / AUDIO_RECORD_NAME).is_file()
    if tiles and not (data / MANIFEST_NAME).is_file():
        raise InputError(f"{data} holds audio tiles ({AUDIO_MANIFEST_NAME}): train them with --modality audio")


def face_augmenter(config: TrainConfig) -> Augmenter:
    """The face crops' augmenter: resize, then the configured noise, JPEG, blur and flips."""
    return Augmenter(AugmentParams.from_config(config))


def crop_settings(data: Path) -> BundleSettings:
    """The crop stage's settings and detector record (``DATA/dfembed-crop.json``), for the bundle.

    Raises:
        InputError: The record exists but is not valid JSON.
    """
    return BundleSettings(read_crop_config(data), read_crop_detector(data))


def _check(job: TrainJob) -> None:
    refuse_audio_tiles(job.data)


def _nothing_after_fit(job: TrainJob, model: Any, bundle: ClassifierBundle, data: TrainData) -> None:
    """A face model is complete once its outputs are written."""


#: The face modality's steps in the frame model's training.
FACE_STEPS = FrameSteps(check=_check, augmenter=face_augmenter, bundle_settings=crop_settings,
                        after_fit=_nothing_after_fit)


def train_face(job: TrainJob) -> TrainSummary:
    """Train the frame model on face crops (:func:`~dfembed.train.frames.train_frames` with :data:`FACE_STEPS`)."""
    return train_frames(job, FACE_STEPS)


#: ``--modality face``: the embedding network and the SVM on face crops.
FACE = Modality(name="face", summary="face crops: the triplet-loss embedding network and its SVM",
                distribution=frame_distribution, train=train_face)
