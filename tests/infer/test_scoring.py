"""FaceScorer refuses what a faulty Keras model and classifier give: P(fake) outside [0, 1], non-finite embeddings.

The embedding model and the classifier are stand-ins whose outputs are set by hand, so the
value each message must name is known.
"""

from __future__ import annotations

import numpy as np
import pytest

from dfembed.core.errors import InputError
from dfembed.infer.scoring import FaceScorer

CROPS = np.zeros((3, 4, 4, 3), np.uint8)


class _Embedder:
    """``predict_on_batch`` gives each crop the embedding ``(value, 0)``."""

    def __init__(self, value: float) -> None:
        self.value = value

    def predict_on_batch(self, batch: np.ndarray) -> np.ndarray:
        return np.tile(np.array([[self.value, 0.0]], np.float32), (len(batch), 1))


class _Proba:
    """``predict_proba`` gives every embedding ``(1 - p, p)``: P(fake) = ``p`` in column 1."""

    classes_ = np.array([0, 1])

    def __init__(self, p: float) -> None:
        self.p = p

    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray:
        return np.tile([[1.0 - self.p, self.p]], (len(embeddings), 1))


def _scorer(embedding: float, p: float, tta: str = "none") -> FaceScorer:
    return FaceScorer(_Embedder(embedding), _Proba(p), batch_size=2, tta=tta, model_name="model.h5 (with svm.pkl)")


def test_a_sound_model_scores_as_its_classifier_says() -> None:
    np.testing.assert_allclose(_scorer(0.5, 0.25)(CROPS), [0.25, 0.25, 0.25])
    scores, embeddings = _scorer(0.5, 1.0, tta="flip").scores_and_embeddings(CROPS)
    np.testing.assert_allclose(scores, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(embeddings, [[0.5, 0.0]] * 3)


@pytest.mark.parametrize(("p", "shown"), [(float("nan"), "nan"), (8.0, "8"), (-0.1, "-0.1"), (float("inf"), "inf")])
@pytest.mark.parametrize("tta", ["none", "flip"])
def test_a_p_fake_outside_0_1_names_the_model_as_faulty(p: float, shown: str, tta: str) -> None:
    expected = f"model model.h5 (with svm.pkl) gave P(fake) = {shown} for a face crop"
    for call in (_scorer(0.5, p, tta), _scorer(0.5, p, tta).scores_and_embeddings):
        with pytest.raises(InputError, match=r"the model is faulty$") as error:
            call(CROPS)
        assert str(error.value).startswith(expected)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_non_finite_embedding_names_the_model_as_faulty(value: float) -> None:
    with pytest.raises(InputError, match=rf"model model.h5 \(with svm.pkl\) gave an embedding holding {value} .*"
                                         "the model is faulty"):
        _scorer(value, 0.5).scores_and_embeddings(CROPS)
