"""Shot cuts end every track: the cut test on real frames, a spliced clip, and the shared clips."""

from __future__ import annotations

import csv

import av
import cv2
import numpy as np
import pytest

from pipeline_fixtures import SHARED_VIDEOS, paste, portrait, tiny_checkpoint, write_clip
from wildfer.cli import main
from wildfer.pipeline.cuts import CUT_THRESHOLD, CutDetector, shot_difference, video_thumbnail
from wildfer.pipeline.sources import Source, open_frames
from wildfer.geometry.boxes import iou_matrix
from wildfer.pipeline.track import IoUTracker

# New shots' first frames, found by eye (benchmarks/bench_cuts.py lists the same).
SHARED_CUTS = {"short_hamilton_clip.mp4": [20, 82, 211], "face_noface.mov": [72, 73], "noface_face.mov": [96, 168],
               "WolfgangLanger_Pexels.mp4": [], "no_face.mp4": [], "single_face.mp4": []}


def _scene_a(i: int) -> np.ndarray:
    """The portrait on a flat grey wall, drifting right 3 px a frame."""
    return paste(np.full((240, 320, 3), 90, np.uint8), portrait(0.3), 40 + 3 * i, 30)


def _scene_b(i: int) -> np.ndarray:
    """Another shot: the portrait mirrored and a little larger, on a bright striped wall, at about
    the place scene A's face left off (so boxes on both sides of the cut overlap)."""
    wall = np.full((240, 320, 3), 200, np.uint8)
    wall[::16] = (40, 120, 200)
    return paste(wall, portrait(0.33)[:, ::-1], 50 + 3 * i, 20)


@pytest.fixture(scope="module")
def spliced(tmp_path_factory):
    d = tmp_path_factory.mktemp("cuts")
    clip = write_clip(d / "spliced.mp4", [_scene_a(i) for i in range(7)] + [_scene_b(i) for i in range(7)])
    return {"clip": clip, "model": tiny_checkpoint(d / "tiny.safetensors")}


def _face_frames(csv_path) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    with open(csv_path) as f:
        for r in csv.DictReader(f):
            out.setdefault(int(r["face_id"]), []).append(int(r["frame"]))
    return out


def test_shot_difference_forgives_a_small_move_not_a_new_shot(spliced):
    with av.open(str(spliced["clip"])) as c:
        thumbs = [video_thumbnail(f) for f in c.decode(video=0)]
    assert thumbs[0].shape == (36, 64) and thumbs[0].dtype == np.float32
    within = [shot_difference(a, b) for a, b in zip(thumbs[:6], thumbs[1:7])]
    assert max(within) < CUT_THRESHOLD / 3
    assert shot_difference(thumbs[6], thumbs[7]) > 2 * CUT_THRESHOLD
    # the shift search is what forgives motion: a face moved 4 thumbnail pixels is out of its reach
    a = cv2.resize(cv2.cvtColor(portrait(), cv2.COLOR_RGB2GRAY), (64, 36), interpolation=cv2.INTER_AREA)
    a = a.astype(np.float32)
    moved = np.roll(a, 1, axis=1)
    assert shot_difference(a, moved) < 1.0 < shot_difference(a, moved, max_shift=0)
    det = CutDetector()
    assert [det.update(t) for t in thumbs] == [False] * 7 + [True] + [False] * 6


def test_tracker_reset_ends_every_track():
    tr = IoUTracker(min_iou=0.3, max_missed=5)
    box = np.array([[10, 10, 60, 60.0]])
    assert tr.update(box).tolist() == [0]
    tr.reset()
    assert tr.update(box).tolist() == [1]  # same place, new shot: a new person


@pytest.mark.parametrize("args", [[], ["--stride", "2", "--detect-every", "3", "--annotate"]],
                         ids=["every-frame", "stride2-flow"])
def test_no_face_id_spans_the_splice(spliced, tmp_path, capsys, args):
    clip = spliced["clip"]
    # at stride 2 the cut (frame 7) falls on a skipped frame and is still seen: 8 starts shot 1
    step = 2 if args else 1
    _, frames = open_frames(Source(clip, "video"), step, shots=True)
    assert [(f.index, f.shot) for f in frames] == [(i, int(i >= 7)) for i in range(0, 14, step)]
    code = main([str(a) for a in ["predict", clip, "--out", tmp_path, "--model", spliced["model"], "--quiet", *args]])
    assert code == 0, capsys.readouterr().err
    faces = _face_frames(tmp_path / "predictions.csv")
    assert len(faces) == 2, faces  # one person per shot, each seen in every processed frame of it
    for fid, frames_seen in faces.items():
        assert all(f < 7 for f in frames_seen) or all(f >= 7 for f in frames_seen), (fid, frames_seen)
    # ...though the boxes across the cut overlap enough for the tracker to have merged them
    with open(tmp_path / "predictions.csv") as f:
        rows = list(csv.DictReader(f))
    last_a = max((r for r in rows if int(r["frame"]) < 7), key=lambda r: int(r["frame"]))
    first_b = min((r for r in rows if int(r["frame"]) >= 7), key=lambda r: int(r["frame"]))
    box = lambda r: np.array([[float(r[k]) for k in ("x0", "y0", "x1", "y1")]])  # noqa: E731
    assert iou_matrix(box(last_a), box(first_b))[0, 0] > 0.3
    if "--annotate" in args:
        # the annotated video shows the last processed frame's box on a skipped frame, but not across
        # the cut: frame 7 (skipped, the new shot) has no box until frame 8 has its own
        with av.open(str(clip)) as a, av.open(str(tmp_path / "annotated" / "spliced.mp4")) as b:
            pairs = list(zip((f.to_ndarray(format="rgb24") for f in a.decode(video=0)),
                             (f.to_ndarray(format="rgb24") for f in b.decode(video=0))))
        drawn = [int((np.abs(x.astype(int) - y).max(2) > 80).sum()) for x, y in pairs]
        assert drawn[5] > 100 and drawn[7] < 20 < 100 < drawn[8], drawn


needs_shared = pytest.mark.skipif(not (SHARED_VIDEOS / "short_hamilton_clip.mp4").is_file(),
                                  reason=f"shared clips not found in {SHARED_VIDEOS}")


@needs_shared
def test_cuts_found_in_the_shared_clips_are_the_true_ones():
    for name, known in SHARED_CUTS.items():
        det = CutDetector()
        with av.open(str(SHARED_VIDEOS / name)) as c:
            found = [i for i, f in enumerate(c.decode(video=0)) if det.update(video_thumbnail(f))]
        assert found == known, name


@needs_shared
def test_no_face_id_spans_a_cut_in_short_hamilton_clip(tmp_path, capsys):
    clip = SHARED_VIDEOS / "short_hamilton_clip.mp4"
    code = main(["predict", str(clip), "--out", str(tmp_path), "--quiet", "--no-plots"])
    assert code == 0, capsys.readouterr().err
    faces = _face_frames(tmp_path / "predictions.csv")
    for fid, frames_seen in faces.items():
        for cut in SHARED_CUTS[clip.name]:
            assert not (min(frames_seen) < cut <= max(frames_seen)), f"face {fid} spans the cut at frame {cut}"
    # the singer (frames 82-210) is one person, not several: the cut test did not split his shot
    assert any(min(f) == 82 and max(f) == 210 for f in faces.values()), {k: (min(v), max(v)) for k, v in faces.items()}


def test_preprocess_keeps_a_person_to_one_shot(spliced, tmp_path, capsys):
    assert main(["preprocess", str(spliced["clip"]), str(tmp_path), "--quiet"]) == 0
    # the person of each shot is seen 0.7 s; the one kept (first in order) has its shot's 7 frames
    crops = sorted(p.name for p in (tmp_path / "cropped_aligned" / "spliced").iterdir())
    assert crops == [f"{i:05d}.jpg" for i in range(1, 8)] or crops == [f"{i:05d}.jpg" for i in range(8, 15)], crops
