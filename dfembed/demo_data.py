"""The embedded demo data: two public-domain portraits made into a small labelled data set at run time.

``dfembed demo OUT`` (no DATA) runs on what :func:`write_demo_data` writes into ``OUT/data``
from the two portraits in ``dfembed/resources/demo`` — astronaut Eileen Collins (NASA) and
Grace Hopper (U.S. Navy), both public domain (``SOURCES.md`` there) — and the face box and
five landmarks stored for each in ``faces.json``:

* ``frames/real/``: views of each portrait: a square window around the face at a random
  position and size, a small rotation, a random mirror image, contrast and brightness, saved
  as a JPEG of random quality (:func:`random_view`, :func:`render_view`);
* ``frames/fake/``: the same kind of views of face swaps, one person's inner face aligned
  onto the other's five landmarks, at a lower resolution (as a swap model renders it),
  colour-matched and blended with a feathered mask (:func:`face_swap`), a fresh swap for
  every view;
* ``videos/``: one short clip of each portrait and of each swap, a slow pan and zoom from one
  view to another (MPEG-4 part 2), labelled by a DFDC ``metadata.json``.

Every random choice comes from a generator seeded with ``(seed, scene, kind, index)``, so one
seed always writes the same bytes and no item depends on how many others are made. Coordinates
are ``(x, y)`` pixels with pixel centres on integers; boxes are ``x1, y1, x2, y2``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import cv2
import numpy as np

from dfembed.core.atomic import atomic_folder
from dfembed.core.config import check
from dfembed.core.errors import InputError, OutputError
from dfembed.core.ownership import check_replaceable, file_entry, owned_files
from dfembed.core.provenance import file_sha256, write_provenance
from dfembed.core.resources import RESOURCES
from dfembed.faces.alignment import similarity_transform
from dfembed.faces.media import read_image
from dfembed.faces.regions import landmark_outline, polygon_mask
from dfembed.train.sbi import blend

log = logging.getLogger(__name__)

#: The portraits, their faces and their sources, in the package.
PORTRAITS = RESOURCES / "demo"
FACES_FILE = "faces.json"
SOURCES_FILE = "SOURCES.md"
RECORD_NAME = "dfembed-demo-data.json"
_FRAMES, _VIDEOS = 0, 1  # the kinds of item, a part of every generator's seed


@dataclasses.dataclass(frozen=True)
class DemoDataConfig:
    """How much embedded demo data to make.

    Attributes:
        views: Views of each scene in ``frames/``: of each portrait (real) and each swap (fake).
        view_size: Side of a view and of a video frame, in pixels.
        video_frames: Frames of each clip.
        video_fps: Frame rate written in each clip.
        seed: Seed of every random choice.
    """

    views: int = 14
    view_size: int = 320
    video_frames: int = 24
    video_fps: int = 12
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("views", "view_size", "video_frames", "video_fps"):
            check(getattr(self, name) >= 1, name, getattr(self, name), "at least 1")


@dataclasses.dataclass(frozen=True, eq=False)  # arrays make == ambiguous
class Portrait:
    """One embedded portrait and where its face is.

    Attributes:
        name: Short name (``"collins"``), used in file names.
        path: The image file.
        image: RGB ``uint8`` ``(H, W, 3)``.
        box: Face box ``x1, y1, x2, y2`` ``(4,)``.
        landmarks: Left eye, right eye, nose, mouth left, mouth right ``(5, 2)``.
    """

    name: str
    path: Path
    image: np.ndarray
    box: np.ndarray
    landmarks: np.ndarray


@dataclasses.dataclass(frozen=True, eq=False)
class Swap:
    """A face swap and its blend mask.

    Attributes:
        image: The target portrait with the source's inner face, RGB ``uint8``.
        mask: ``float32`` ``(H, W)`` in ``[0, 1]``: the weight of the source's face; 0 is the target untouched.
    """

    image: np.ndarray
    mask: np.ndarray


@dataclasses.dataclass(frozen=True)
class View:
    """A square window on a portrait and how it is shown.

    Attributes:
        centre: ``(x, y)`` of the window's centre in portrait pixels.
        side: The window's side in portrait pixels.
        angle: Rotation in degrees, counter-clockwise.
        mirror: Flip left to right.
        gain: Contrast factor.
        bias: Brightness offset (of 255).
    """

    centre: tuple[float, float]
    side: float
    angle: float
    mirror: bool
    gain: float
    bias: float


@dataclasses.dataclass(frozen=True)
class Scene:
    """What one group of items shows: a portrait (real), or the source's face on the target (fake).

    Attributes:
        target: The portrait whose head, hair and background are shown.
        source: The portrait whose inner face is swapped in, or ``None`` for the real portrait.
    """

    target: Portrait
    source: Portrait | None = None

    @property
    def label(self) -> str:
        """``"real"`` or ``"fake"``."""
        return "real" if self.source is None else "fake"

    @property
    def stem(self) -> str:
        """File name stem: ``collins`` or ``hopper-face-on-collins``."""
        return self.target.name if self.source is None else f"{self.source.name}-face-on-{self.target.name}"

    def picture(self, rng: np.random.Generator) -> np.ndarray:
        """The portrait itself, or a new swap drawn from ``rng``."""
        return self.target.image if self.source is None else face_swap(self.source, self.target, rng).image


@dataclasses.dataclass(frozen=True)
class DemoData:
    """What :func:`write_demo_data` wrote.

    Attributes:
        folder: The data folder: ``frames/`` (a real/fake tree) and ``videos/`` (DFDC metadata).
        record: Its record (configuration, portraits, every file with its SHA-256).
        counts: ``frames real``, ``frames fake``, ``videos real``, ``videos fake`` → number of files.
    """

    folder: Path
    record: Path
    counts: dict[str, int]


def load_portraits(folder: Path = PORTRAITS) -> tuple[Portrait, ...]:
    """Read the portraits and their faces listed in ``folder/faces.json``.

    Args:
        folder: The portraits' folder (the package's ``resources/demo``).

    Returns:
        The portraits, in the order of ``faces.json``.

    Raises:
        InputError: ``faces.json`` or a portrait is missing or unreadable.
    """
    try:
        listed = json.loads((folder / FACES_FILE).read_text(encoding="utf-8"))["portraits"]
    except (OSError, ValueError, KeyError) as err:
        raise InputError(f"{folder / FACES_FILE} is missing or unreadable ({err}): reinstall dfembed") from err
    return tuple(_portrait(name, folder / entry["file"], entry) for name, entry in listed.items())


def _portrait(name: str, path: Path, entry: dict) -> Portrait:
    box = np.asarray(entry["box"], dtype=np.float64).reshape(4)
    return Portrait(name, path, read_image(path), box, np.asarray(entry["landmarks"], dtype=np.float64).reshape(5, 2))


def scenes(portraits: tuple[Portrait, ...]) -> list[Scene]:
    """Every portrait as itself (real), then every ordered pair as a swap (fake)."""
    reals = [Scene(p) for p in portraits]
    return reals + [Scene(t, s) for t in portraits for s in portraits if s is not t]


def face_swap(source: Portrait, target: Portrait, rng: np.random.Generator) -> Swap:
    """Put the source's inner face on the target (the brows to the chin, between the cheeks).

    1. The source is warped onto the target by the similarity of the five landmarks, the
       target's landmarks jittered by up to 4 % of the eye distance (a small misalignment).
    2. The face region is the target's outline to the brows (:func:`~dfembed.faces.regions.landmark_outline`).
    3. The warped face loses detail as a face-swap model's output does: it is rendered at 12 to 25 %
       of its resolution (:func:`low_resolution`), then gets the target's colour inside the region
       (:func:`match_colours`).
    4. It is blended with the region feathered inwards by 2 to 12 % of the eye distance
       (:func:`feather`), so the target outside the region stays byte for byte.

    Args:
        source: The portrait whose face is taken.
        target: The portrait that receives it.
        rng: Generator of the jitter, the resolution and the feather width.

    Returns:
        The :class:`Swap` at the target's size.
    """
    eyes = float(np.hypot(*(target.landmarks[1] - target.landmarks[0])))
    jitter = rng.uniform(-0.04, 0.04, size=(5, 2)) * eyes
    height, width = target.image.shape[:2]
    matrix = similarity_transform(source.landmarks, target.landmarks + jitter)
    warped = cv2.warpAffine(source.image, matrix, (width, height), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
    region = polygon_mask((height, width), landmark_outline(target.landmarks, forehead=False))
    matched = match_colours(low_resolution(warped, rng.uniform(0.12, 0.25)), target.image, region)
    mask = feather(region, int(round(eyes * rng.uniform(0.02, 0.12))))
    return Swap(blend(matched, target.image, mask), mask)


def low_resolution(image: np.ndarray, scale: float) -> np.ndarray:
    """``image`` shrunk by ``scale`` (area) and enlarged back (bilinear): the detail a swap model loses."""
    height, width = image.shape[:2]
    side = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(image, side, interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def match_colours(image: np.ndarray, reference: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Give ``image`` the mean and spread of ``reference`` inside ``region``, per CIELAB channel.

    Args:
        image: RGB ``uint8`` ``(H, W, 3)``.
        reference: RGB ``uint8`` of the same shape.
        region: ``(H, W)`` mask; its pixels above 0.5 are compared.

    Returns:
        RGB ``uint8``: ``image`` shifted and scaled in Lab, everywhere.

    Raises:
        ValueError: An empty region.
    """
    inside = region > 0.5
    if not inside.any():
        raise ValueError("the face region is empty: no colours to match")
    lab, ref = (cv2.cvtColor(x, cv2.COLOR_RGB2LAB).astype(np.float32) for x in (image, reference))
    mean, std = lab[inside].mean(axis=0), lab[inside].std(axis=0) + 1e-3
    ref_mean, ref_std = ref[inside].mean(axis=0), ref[inside].std(axis=0)
    shifted = (lab - mean) * (ref_std / std) + ref_mean
    return cv2.cvtColor(np.clip(np.rint(shifted), 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def feather(region: np.ndarray, width: int) -> np.ndarray:
    """Soften a region's edge inwards: erode by ``width``, then blur within ``width``.

    Both steps use square windows of side ``2 width + 1``, so every pixel the result
    weighs lies within ``width`` of an eroded pixel, whose whole window is inside the region:
    the result is 0 wherever the region is.

    Args:
        region: ``float32`` ``(H, W)`` mask, 1 inside.
        width: Feather width in pixels; 0 returns the region unchanged.

    Returns:
        ``float32`` ``(H, W)`` in ``[0, 1]``.
    """
    if width <= 0:
        return region.astype(np.float32)
    window = 2 * width + 1
    eroded = cv2.erode(region.astype(np.float32), np.ones((window, window), np.uint8))
    return np.clip(cv2.GaussianBlur(eroded, (window, window), width / 2.0), 0.0, 1.0)


def random_view(box: np.ndarray, shape: tuple[int, ...], rng: np.random.Generator) -> View:
    """A random square window around a face, kept inside the portrait (before rotation).

    The window is 1.7 to 2.5 times the face box's longer side (at most the portrait's
    shorter side), its centre up to 12 % of that side away from the face's; rotation
    ±10°, a mirror image with p = 0.5, contrast 0.85 to 1.15, brightness ±20.

    Args:
        box: Face box ``x1, y1, x2, y2``.
        shape: The portrait's ``(height, width, ...)``.
        rng: The generator.

    Returns:
        The :class:`View`.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    face = max(x2 - x1, y2 - y1)
    side = min(face * rng.uniform(1.7, 2.5), float(min(shape[:2])))
    offset = rng.uniform(-0.12, 0.12, size=2) * face
    half = side / 2.0
    cx = float(np.clip((x1 + x2) / 2.0 + offset[0], half - 0.5, shape[1] - 0.5 - half))
    cy = float(np.clip((y1 + y2) / 2.0 + offset[1], half - 0.5, shape[0] - 0.5 - half))
    return View((cx, cy), side, float(rng.uniform(-10.0, 10.0)), bool(rng.random() < 0.5),
                float(rng.uniform(0.85, 1.15)), float(rng.uniform(-20.0, 20.0)))


def view_matrix(view: View, size: int) -> np.ndarray:
    """The ``(2, 3)`` affine map from portrait pixels to a ``size`` × ``size`` view.

    The window's centre goes to the view's centre, scaled by ``size / side`` and rotated by
    ``angle``; a mirrored view then flips ``x``.
    """
    centre = (size - 1) / 2.0
    matrix = cv2.getRotationMatrix2D(view.centre, view.angle, size / view.side)
    matrix[:, 2] += np.array([centre, centre]) - np.array(view.centre)
    if view.mirror:
        matrix[0] = -matrix[0]
        matrix[0, 2] += size - 1
    return matrix


def render_view(image: np.ndarray, view: View, size: int) -> np.ndarray:
    """Cut the view out of a portrait and apply its contrast and brightness.

    Args:
        image: RGB ``uint8`` portrait.
        view: The :class:`View`.
        size: Side of the result.

    Returns:
        RGB ``uint8`` ``(size, size, 3)``; corners a rotation takes outside the portrait
        repeat its edge.
    """
    warped = cv2.warpAffine(image, view_matrix(view, size), (size, size), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
    return np.clip(np.rint(warped.astype(np.float32) * view.gain + view.bias), 0, 255).astype(np.uint8)


def pan(start: View, end: View, t: float) -> View:
    """The view a fraction ``t`` of the way from ``start`` to ``end`` (mirror and colours of ``start``)."""
    def mix(a: float, b: float) -> float:
        return a + (b - a) * t

    centre = (mix(start.centre[0], end.centre[0]), mix(start.centre[1], end.centre[1]))
    return dataclasses.replace(start, centre=centre, side=mix(start.side, end.side), angle=mix(start.angle, end.angle))


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """An RGB ``uint8`` image as JPEG bytes of ``quality`` (1 to 100)."""
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise OutputError(f"OpenCV could not encode a {image.shape} image as JPEG")
    return data.tobytes()


def write_video(path: Path, frames: list[np.ndarray], fps: int) -> None:
    """Write RGB ``uint8`` frames of one size as an MPEG-4 part 2 (``mp4v``) video.

    Raises:
        OutputError: OpenCV cannot open a writer for ``path``.
    """
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (width, height))
    if not writer.isOpened():
        raise OutputError(f"OpenCV cannot write the video {path} (no mp4v encoder?)")
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()


def item_rng(seed: int, scene: int, kind: int, index: int) -> np.random.Generator:
    """The generator of one item: frame view ``index`` (kind 0) or clip (kind 1) of a scene."""
    return np.random.default_rng([seed, scene, kind, index])


def view_frame(scene: Scene, rng: np.random.Generator, size: int) -> bytes:
    """One view of a scene as JPEG bytes of quality 70 to 95."""
    picture = scene.picture(rng)
    view = random_view(scene.target.box, picture.shape, rng)
    return encode_jpeg(render_view(picture, view, size), int(rng.integers(70, 96)))


def clip_frames(scene: Scene, rng: np.random.Generator, config: DemoDataConfig) -> list[np.ndarray]:
    """The frames of one clip of a scene: one picture (one swap), panned from one view to another."""
    picture = scene.picture(rng)
    start, end = (random_view(scene.target.box, picture.shape, rng) for _ in range(2))
    steps = max(config.video_frames - 1, 1)
    return [render_view(picture, pan(start, end, i / steps), config.view_size) for i in range(config.video_frames)]


def write_demo_data(folder: Path, config: DemoDataConfig, portraits: Path = PORTRAITS) -> DemoData:
    """Make the embedded demo data set in ``folder`` (see the module docstring), atomically.

    An existing ``folder`` is replaced only when the record inside it names every file
    there with its current content (an earlier demo data set); anything else is refused.

    Args:
        folder: The data folder to write (``OUT/data``).
        config: How much to make, and the seed.
        portraits: The portraits' folder.

    Returns:
        Where the data and its record are, and how many files of each kind.

    Raises:
        OutputExistsError: ``folder`` holds files that no demo data record names.
        InputError: The embedded portraits are missing.
        OutputError: A file cannot be encoded or written.
    """
    _check_replaceable(folder)
    loaded = load_portraits(portraits)
    all_scenes = scenes(loaded)
    with atomic_folder(folder) as tmp:
        counts = _write_frames(tmp / "frames", all_scenes, config)
        counts.update(_write_videos(tmp / "videos", all_scenes, config))
        _write_record(tmp, config, portraits, loaded, counts)
    log.info("demo data: %s in %s", ", ".join(f"{n} {k}" for k, n in counts.items()), folder)
    return DemoData(folder, folder / RECORD_NAME, counts)


def _check_replaceable(folder: Path) -> None:
    if not (folder.exists() or folder.is_symlink()):
        return
    if not folder.is_dir() or folder.is_symlink():
        raise OutputError(f"{folder} is in the way of the demo data and is not a folder; move it away")
    record = folder / RECORD_NAME
    files = [p for p in folder.rglob("*") if not p.is_dir() and p != record]
    check_replaceable(files, owned_files(record), force=True)  # only files the record proves are ours


def _write_frames(folder: Path, all_scenes: list[Scene], config: DemoDataConfig) -> dict[str, int]:
    counts = {"frames real": 0, "frames fake": 0}
    for number, scene in enumerate(all_scenes):
        (folder / scene.label).mkdir(parents=True, exist_ok=True)
        for index in range(config.views):
            data = view_frame(scene, item_rng(config.seed, number, _FRAMES, index), config.view_size)
            (folder / scene.label / f"{scene.stem}-{index:03d}.jpg").write_bytes(data)
            counts[f"frames {scene.label}"] += 1
    return counts


def _write_videos(folder: Path, all_scenes: list[Scene], config: DemoDataConfig) -> dict[str, int]:
    folder.mkdir(parents=True)
    metadata = {}
    for number, scene in enumerate(all_scenes):
        name = f"{scene.stem}.mp4"
        write_video(folder / name, clip_frames(scene, item_rng(config.seed, number, _VIDEOS, 0), config),
                    config.video_fps)
        original = None if scene.source is None else f"{scene.target.name}.mp4"
        metadata[name] = {"label": scene.label.upper(), "split": "train", "original": original}
    (folder / "metadata.json").write_text(json.dumps(metadata, indent=1) + "\n", encoding="utf-8")
    return {f"videos {label}": sum(s.label == label for s in all_scenes) for label in ("real", "fake")}


def _write_record(folder: Path, config: DemoDataConfig, portraits: Path, loaded: tuple[Portrait, ...],
                  counts: dict[str, int]) -> None:
    files = {p.relative_to(folder).as_posix(): file_entry(p) for p in sorted(folder.rglob("*")) if p.is_file()}
    sources = {p.path.name: file_sha256(p.path) for p in loaded}
    write_provenance(folder / RECORD_NAME, config, portraits={"folder": str(portraits), "sha256": sources,
                                                             "sources": str(portraits / SOURCES_FILE)},
                     counts=counts, files=files)
