"""The face track on hand-built boxes (x1, y1, x2, y2 in pixels)."""

from __future__ import annotations

import pytest

from dfembed.faces.track import follow_track

# Two people: A on the left (40×40), B on the right, a little larger (50×50), both drifting right.
A = [[0, 0, 40, 40], [4, 0, 44, 40], [8, 0, 48, 40]]
B = [[100, 0, 150, 50], [104, 0, 154, 50], [108, 0, 158, 50]]


def test_largest_takes_the_biggest_face_of_every_frame() -> None:
    frames = [[A[0], B[0]], [B[1], A[1]], [A[2]]]
    assert follow_track(frames, "largest") == [1, 0, 0]


def test_iou_follows_the_first_frames_largest_face() -> None:
    # Frame 1 lists A first; B (the track, larger) is still chosen by its overlap with frame 0's B.
    frames = [[A[0], B[0]], [A[1], B[1]], [B[2], A[2]]]
    assert follow_track(frames, "iou") == [1, 1, 0]


def test_iou_leaves_a_gap_where_only_another_person_is_seen_and_picks_the_track_up_again() -> None:
    # Frame 1 shows A only (IoU with B's box 0), frame 2 shows B again: it overlaps frame 0's B box.
    # IoU of B[0] and B[2]: intersection 42×50 = 2100, union 2·2500 − 2100 = 2900 → 0.72.
    frames = [[B[0]], [A[1]], [], [B[2]]]
    assert follow_track(frames, "iou") == [0, None, None, 0]


def test_iou_below_the_floor_is_a_gap() -> None:
    # Boxes 10×10 shifted by 5 px: intersection 50, union 150, IoU 1/3.
    frames = [[[0, 0, 10, 10]], [[5, 0, 15, 10]]]
    assert follow_track(frames, "iou", min_iou=0.3) == [0, 0]
    assert follow_track(frames, "iou", min_iou=0.4) == [0, None]


def test_leading_frames_without_faces_are_gaps() -> None:
    assert follow_track([[], [A[0]], [A[1]]], "iou") == [None, 0, 0]


@pytest.mark.parametrize(("policy", "min_iou", "fragment"), [("nearest", 0.2, "unknown track policy"),
                                                              ("iou", 1.5, "min_iou must be in")])
def test_bad_settings_are_named(policy: str, min_iou: float, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        follow_track([[A[0]]], policy, min_iou)
