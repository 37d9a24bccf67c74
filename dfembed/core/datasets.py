"""The vocabulary of the public data sets dfembed knows, defined once (names only, no I/O).

Used by the crop, inference and evaluation configurations to check their options, and by
:mod:`dfembed.crop.datasets`, which reads the layouts.
"""

from __future__ import annotations

#: SRC layouts: recognised automatically (``auto``) or forced.
LAYOUTS: tuple[str, ...] = ("auto", "labelled", "dfdc", "ffpp", "celebdf", "unlabelled")
#: Subsets of a data set: its official lists (FaceForensics++: train, val, test; Celeb-DF v2: test and the rest).
SPLITS: tuple[str, ...] = ("all", "train", "val", "test")
#: FaceForensics++ video qualities: raw, constant rate factor 23 and 40.
FFPP_COMPRESSIONS: tuple[str, ...] = ("raw", "c23", "c40")
#: Every manipulation of FaceForensics++ (folders of ``manipulated_sequences/``).
FFPP_METHODS: tuple[str, ...] = (
    "Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter", "DeepFakeDetection",
)
#: The four methods the field trains and tests on as "FF++" (DeepfakeBench, SBI).
FFPP_DEFAULT_METHODS: tuple[str, ...] = FFPP_METHODS[:4]


def check_methods(methods: tuple[str, ...]) -> bool:
    """Whether every name is a FaceForensics++ method (exact spelling) and at least one is given."""
    return bool(methods) and all(m in FFPP_METHODS for m in methods)
