"""Draw the documentation's figures with dfembed's own code, from licence-clean inputs only.

    python docs/gen_figures.py [OUT]        # default docs/assets/generated/

MkDocs runs it before every build (``docs/hooks/figures.py``). The only photograph is
``grace_hopper.jpg`` as matplotlib ships it (a US Navy photograph, public domain); the scores
of the ROC curve and the histogram are a small seeded synthetic set, captioned as
illustrative where they are shown. Every picture is a real output of dfembed's functions:
the detectors and FaceMesh (``dfembed.faces``), the crop presets (``dfembed.crop.presets``),
self-blending (``dfembed.train.sbi``), the overlay (``dfembed.detectors.draw``) and the
evaluation plots (``dfembed.evaluate.plots``). Nothing is downloaded.

Figures: ``crops.png`` (one face cut by every crop preset), ``detectors.png`` (MTCNN's and
BlazeFace's faces), ``facemesh.png`` (the 468 points and the two self-blend outlines),
``sbi.png`` (real, mask, self-blend), ``roc.png`` and ``score_hist.png`` (illustrative scores).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

PRESETS = ("dfembed", "sbi", "dfdc-winner", "deepfakebench")
SBI_SIZE = 256  # self-blends are made at the model's input size; 256 px is DeepfakeBench's crop
SBI_SEEDS = (0, 1, 2, 3)


def sample_photo() -> np.ndarray:
    """matplotlib's ``grace_hopper.jpg`` (public domain) as RGB ``uint8``."""
    from matplotlib import cbook

    from dfembed.faces.media import read_image

    return read_image(Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))


def detect(photo: np.ndarray) -> dict:
    """Each registered detector's faces on the photo, with the crop stage's defaults."""
    from dfembed.crop.presets import resolve_crop_options
    from dfembed.faces.detector import build_detector

    config = resolve_crop_options(None, {})
    return {name: build_detector(config, name).detect([photo])[0] for name in ("mtcnn", "blazeface")}


def crops_figure(photo: np.ndarray, faces: dict, out: Path) -> Path:
    """The MTCNN face cut by every crop preset, then BlazeFace's box with the defaults."""
    from dfembed.crop.presets import resolve_crop_options
    from dfembed.evaluate.plots import image_grid
    from dfembed.faces.extract import cut_face
    from dfembed.faces.geometry import fit_size

    images, titles = [], []
    for preset in PRESETS:
        config = resolve_crop_options(None, {"preset": preset})
        crop, _ = cut_face(photo, faces["mtcnn"][0], config)
        how = f"aligned ×{config.align_scale:g}" if config.align == "similarity" else f"margin {config.margin:g}"
        images.append(fit_size(crop, 256))
        titles.append(f"--preset {preset}\nmtcnn, {how}, {config.size} px")
    config = resolve_crop_options(None, {"detector": "blazeface"})
    images.append(fit_size(cut_face(photo, faces["blazeface"][0], config)[0], 256))
    titles.append(f"--detector blazeface\nmargin {config.margin:g}, {config.size} px")
    return image_grid(images, titles, out / "crops.png", columns=len(images))


def detectors_figure(photo: np.ndarray, faces: dict, out: Path) -> Path:
    """What ``dfembed detectors compare`` draws in ``overlays/``."""
    from dfembed.detectors.draw import draw_overlay

    return draw_overlay(photo, faces, out / "detectors.png", "grace_hopper.jpg: mtcnn and blazeface")


def meshed_crop(photo: np.ndarray, size: int):
    """The largest face cut with the default margin at ``size`` px, with its FaceMesh points."""
    from dfembed.crop.presets import resolve_crop_options
    from dfembed.faces.detector import build_detector
    from dfembed.faces.extract import crops_from_frames
    from dfembed.faces.facemesh import with_facemesh

    config = resolve_crop_options(None, {"size": size, "landmarks": "facemesh"})
    detector = with_facemesh(build_detector(config), config)
    (crop,) = crops_from_frames([(0, photo)], detector, config)
    if crop.crop_mesh is None:
        raise RuntimeError("FaceMesh found no face in the sample photograph")
    return crop


def facemesh_figure(crop, out: Path) -> Path:
    """The crop's 468 points, and the self-blend outlines they give (forehead, and jaw + brows)."""
    import cv2
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from dfembed.faces.regions import landmark_outline, mesh_outline

    mesh, five = crop.crop_mesh, crop.crop_landmarks
    fig = Figure(figsize=(9.0, 2.6))
    FigureCanvasAgg(fig)
    panels = (
        ("468 FaceMesh points", [], mesh),
        ("mesh outline: to the forehead (p = 0.75)", [mesh_outline(mesh, True)], None),
        ("mesh outline: jaw and brows", [mesh_outline(mesh, False)], None),
        ("five-point outline (no mesh)", [landmark_outline(five, True)], five),
    )
    for i, (title, outlines, points) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        ax.imshow(crop.image)
        for outline in outlines:  # the mask is the outline's convex hull: draw the hull
            hull = cv2.convexHull(np.asarray(outline, dtype=np.float32))[:, 0]
            closed = np.vstack([hull, hull[:1]])
            ax.plot(closed[:, 0], closed[:, 1], color="tab:orange", linewidth=1.5)
        if points is not None:
            ax.scatter(points[:, 0], points[:, 1], s=1.5 if len(points) > 5 else 12, color="tab:cyan")
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    path = out / "facemesh.png"
    fig.savefig(path, dpi=100)
    return path


def sbi_figure(crop, out: Path) -> Path:
    """Real crop, blend mask and self-blend for a few seeds: mask from the mesh, then from five points."""
    from dfembed.evaluate.plots import image_grid
    from dfembed.train.sbi import self_blend

    images, titles = [], []
    for source, points in (("FaceMesh", crop.crop_mesh), ("five points", crop.crop_landmarks)):
        for seed in SBI_SEEDS:
            made = self_blend(crop.image, np.random.default_rng(seed), landmarks=points)
            images += [crop.image, made.mask, made.image]
            titles += [f"real (seed {seed})", f"mask: {source}, ratio {made.ratio:g}", "self-blend (label fake)"]
    return image_grid(images, titles, out / "sbi.png", columns=6)


def score_figures(out: Path) -> list[Path]:
    """ROC curve and score histogram of 200 real and 200 fake *illustrative* scores (seeded beta draws)."""
    from dfembed.evaluate.plots import plot_roc, plot_score_histogram

    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.beta(2.0, 5.0, 200), rng.beta(5.0, 2.0, 200)])
    labels = np.repeat([0, 1], 200)
    return [plot_roc(labels, scores, out / "roc.png", title="ROC curve (illustrative scores)"),
            plot_score_histogram(labels, scores, out / "score_hist.png")]


def main(out: Path) -> list[Path]:
    """Draw every figure into ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    photo = sample_photo()
    faces = detect(photo)
    crop = meshed_crop(photo, SBI_SIZE)
    return [crops_figure(photo, faces, out), detectors_figure(photo, faces, out), facemesh_figure(crop, out),
            sbi_figure(crop, out), *score_figures(out)]


if __name__ == "__main__":
    start = time.perf_counter()
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "assets" / "generated"
    written = main(target)
    print(f"gen_figures: {len(written)} figures in {target} ({time.perf_counter() - start:.1f} s)")
