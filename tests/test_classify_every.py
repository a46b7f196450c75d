"""``classify_every``: on video, each person's face is classified on every k-th frame of its track
(and at least once per half smoothing window); the frames between take the window's mean of the
classified faces. Real clips, the real classifier: every row still has probabilities, the
classifier sees about 1/k of the faces, and the labels agree with classifying every face."""

from __future__ import annotations

import numpy as np

from pipeline_fixtures import SHARED, face_clip


class Counting:
    """The real classifier, counting the faces it is given."""

    def __init__(self, clf):
        self.clf, self.faces = clf, 0

    def __getattr__(self, name):
        return getattr(self.clf, name)

    def __call__(self, crops):
        self.faces += len(crops)
        return self.clf(crops)


def _run(path, every: int | None, smooth_s: float = 0.5):
    import wildfer

    kwargs = {} if every is None else {"classify_every": every}  # None: the default
    rec = wildfer.Recognizer(model="fast", smooth_s=smooth_s, **kwargs)
    clf, detectors = rec._models()  # this thread's models
    counting = Counting(clf)
    rec._local.models = (counting, detectors)
    rows = [(fr.frame, f.face_id, f.label, np.array(list(f.probs.values()))) for fr in rec.analyze_video(path)
            for f in fr.faces]
    return rows, counting.faces


def _clip(tmp_path):
    video = SHARED / "faces" / "videos" / "WolfgangLanger_Pexels.mp4"
    return video if video.is_file() else face_clip(tmp_path / "c.mp4", n_face=40, n_empty=2)


def test_every_second_face_classified_and_the_labels_agree(tmp_path):
    clip = _clip(tmp_path)
    full, n_full = _run(clip, 1)
    half, n_half = _run(clip, 2)
    assert [(f, i) for f, i, _, _ in full] == [(f, i) for f, i, _, _ in half]  # the same faces, rows and ids
    assert n_full == len(full) and 0.4 * n_full <= n_half <= 0.6 * n_full
    for *_, p in half:
        assert np.isfinite(p).all() and abs(p.sum() - 1) < 1e-4
    agree = np.mean([a[2] == b[2] for a, b in zip(full, half)])
    assert agree >= 0.9, agree
    assert np.mean([np.abs(a[3] - b[3]).max() for a, b in zip(full, half)]) < 0.05


def test_by_default_every_second_face_is_classified(tmp_path):
    clip = face_clip(tmp_path / "c.mp4", n_face=20, n_empty=1)
    rows, n = _run(clip, None)
    every, _ = _run(clip, 1)
    assert len(rows) == len(every) == 20 and 8 <= n <= 12


def test_without_smoothing_every_face_is_classified(tmp_path):
    clip = face_clip(tmp_path / "c.mp4", n_face=8, n_empty=1)
    rows, n = _run(clip, 3, smooth_s=0.0)
    assert n == len(rows) > 0


def test_a_bad_value_is_one_line_naming_the_flag(tmp_path, capsys):
    from wildfer.cli import main

    clip = face_clip(tmp_path / "c.mp4", n_face=2, n_empty=0)
    assert main(["predict", str(clip), "--out", str(tmp_path / "o"), "--classify-every", "0"]) == 2
    assert capsys.readouterr().err.strip() == "wildfer: error: --classify-every must be >= 1, got 0"
