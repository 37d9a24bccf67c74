"""Sampled decoding: non-reference H.264 frames left out, and the samples bit-identical to a full decode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dfembed.faces import media
from dfembed.faces.sampled import idr_picture, non_reference, plan_packets, sampled_frames
from tests.support import shared_path

av = pytest.importorskip("av", reason="sampled decoding needs PyAV")


def _nal(ref_idc: int, kind: int, body: bytes = b"\x88\x84", length_size: int = 4) -> bytes:
    unit = bytes([(ref_idc << 5) | kind]) + body
    return len(unit).to_bytes(length_size, "big") + unit


def test_the_first_slice_says_whether_a_picture_is_referenced() -> None:
    assert non_reference(_nal(0, 1), 4)
    assert not non_reference(_nal(2, 1), 4)
    assert not non_reference(_nal(3, 5), 4)  # an IDR picture
    assert non_reference(_nal(0, 6, b"\x05" * 20) + _nal(0, 1), 4)  # SEI first, then the slice
    assert not non_reference(_nal(3, 7) + _nal(3, 8), 4)  # parameter sets only: decoded, to be safe
    assert non_reference(_nal(0, 1, length_size=2), 2)
    assert not non_reference(b"", 4) and not non_reference(b"\x00\x00\x00\x09", 4)


def test_only_unwanted_non_reference_packets_are_skipped() -> None:
    # decode order I P B B (display 0 3 1 2): the B frames are non-reference, display index 1 is a sample
    plan = plan_packets([0, 3, 1, 2], [False, False, True, True], wanted={1})
    assert plan is not None and plan.display == {0: 0, 1: 1, 2: 2, 3: 3} and plan.skip == frozenset({2})
    assert plan_packets([0, None, 1], [False, True, True], {0}) is None
    assert plan_packets([0, 1, 1], [False, True, True], {0}) is None


def _h264(path: Path, frames: int = 60, size: tuple[int, int] = (96, 64)) -> Path:
    """An H.264 MP4 with B-frames (libx264 in PyAV's FFmpeg): moving gradients, each frame different."""
    rng = np.random.default_rng(0)
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("libx264", rate=25, options={"bframes": "3", "g": "24", "b-pyramid": "none"})
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        base = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
        for index in range(frames):
            image = np.roll(base, index * 3, axis=1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def _plain(path: Path, n: int, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, np.ndarray]]:
    with monkeypatch.context() as patch:
        patch.setattr(media, "sampled_frames", lambda *args: None)
        return media.sample_video_frames(path, n)


def _same(first: list[tuple[int, np.ndarray]], second: list[tuple[int, np.ndarray]]) -> bool:
    return [i for i, _ in first] == [i for i, _ in second] and all(
        np.array_equal(a, b) for (_, a), (_, b) in zip(first, second))


@pytest.mark.parametrize("n", [1, 3, 7, 20])
def test_sampled_frames_of_an_h264_video_are_those_of_a_full_decode(tmp_path: Path, n: int,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    video = _h264(tmp_path / "v.mp4")
    wanted = media.sample_indices(60, n)
    assert sampled_frames(video, 60, wanted) is not None, "the fast path applies to this video"
    assert _same(_plain(video, n, monkeypatch), media.sample_video_frames(video, n))


def test_the_plain_way_reads_what_the_fast_path_does_not_take(tmp_path: Path) -> None:
    video = _h264(tmp_path / "v.mp4", frames=30)
    assert sampled_frames(video, 31, [0, 15, 30]) is None  # a count that is not the stream's
    assert sampled_frames(video, 30, list(range(30))) is None  # every frame wanted: nothing to leave out
    mjpeg = tmp_path / "v.avi"
    mjpeg.write_bytes(b"RIFF")
    assert sampled_frames(mjpeg, 30, [0]) is None


@pytest.mark.parametrize("n", [16, 48])
def test_the_sample_videos_decode_to_the_same_pixels(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    for video in sorted(shared_path("dfdc_sample", "videos").glob("*.mp4")):
        assert _same(_plain(video, n, monkeypatch), media.sample_video_frames(video, n)), video.name


def test_groups_of_pictures_are_decoded_only_up_to_their_last_sample() -> None:
    # decode order: IDR P B | IDR P B (display 0 2 1 | 3 5 4); only display 4 is a sample
    plan = plan_packets([0, 2, 1, 3, 5, 4], [False, False, True, False, False, True], wanted={4},
                        idr=[True, False, False, True, False, False])
    assert plan is not None and plan.skip == frozenset({0, 1, 2})
    # display 1 needs the P after it in display order (decoded before it); display 3 is its group's first packet
    plan = plan_packets([0, 2, 1, 3, 5, 4], [False, False, True, False, False, True], wanted={1, 3},
                        idr=[True, False, False, True, False, False])
    assert plan is not None and plan.skip == frozenset({5, 4})
    # without IDR pictures known, the first group is decoded for a sample of the second (its B-frame aside)
    plan = plan_packets([0, 2, 1, 3, 5, 4], [False, False, True, False, False, True], wanted={4})
    assert plan is not None and plan.skip == frozenset({1})
    assert idr_picture(_nal(3, 5), 4) and not idr_picture(_nal(3, 1), 4) and not idr_picture(_nal(0, 6), 4)


@pytest.mark.parametrize("n", [1, 2, 5])
def test_sparse_samples_of_a_long_video_skip_its_groups_and_keep_its_pixels(tmp_path: Path, n: int,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    video = _h264(tmp_path / "v.mp4", frames=120)  # five groups of 24 pictures
    decoded: list[int] = []
    real_decode = av.Packet.decode
    assert _same(_plain(video, n, monkeypatch), media.sample_video_frames(video, n))
    with monkeypatch.context() as patch:  # count the packets the fast path hands the decoder
        patch.setattr(av.Packet, "decode", lambda packet: (packet.size and decoded.append(packet.pts))
                      or real_decode(packet))
        frames = list(sampled_frames(video, 120, media.sample_indices(120, n)))
    assert len(frames) == n
    with av.open(str(video)) as container:
        display = {t: k for k, t in enumerate(sorted(p.pts for p in container.demux() if p.size))}
    groups = {display[t] // 24 for t in decoded}  # closed groups of 24 pictures in display order
    assert decoded and groups == {index // 24 for index in media.sample_indices(120, n)}
