"""Choosing the faces to explain, on hand-written scores."""

from __future__ import annotations

from dfembed.explain.select import most_suspicious


def test_the_best_face_of_each_frame_by_decreasing_score() -> None:
    frames = [0, 0, 1, 1, 2]
    scores = [0.2, 0.9, 0.5, 0.7, 0.1]
    # frame 0: face 1 (0.9); frame 1: face 3 (0.7); frame 2: face 4 (0.1)
    assert most_suspicious(frames, scores, per_frame=1, limit=10) == [1, 3, 4]


def test_two_per_frame_and_a_limit_keep_the_highest_scores() -> None:
    frames = [0, 0, 0, 1]
    scores = [0.3, 0.8, 0.6, 0.4]
    assert most_suspicious(frames, scores, per_frame=2, limit=3) == [1, 2, 3]


def test_ties_keep_the_earlier_face_and_no_face_gives_nothing() -> None:
    assert most_suspicious([0, 0], [0.5, 0.5], per_frame=1, limit=5) == [0]
    assert most_suspicious([], [], per_frame=1, limit=5) == []
