"""Time the ``fer`` PyPI package's own video pipeline on one clip (the other half of the wildfer vs fer comparison).

RUN THIS WITH THE SEPARATE fer ENVIRONMENT'S PYTHON, never with the wildfer venv: fer needs
TensorFlow, which is not (and must not become) a wildfer dependency. The environment used for
benchmarks/RESULTS.md was built outside the repository:

    python3 -m venv /work/fer_bench_venv
    /work/fer_bench_venv/bin/pip install tensorflow-cpu==2.21.0
    /work/fer_bench_venv/bin/pip install --no-deps fer==25.10.3      # skips facenet-pytorch/torch, moviepy, ffmpeg-python
    /work/fer_bench_venv/bin/pip install opencv-contrib-python pandas tqdm Pillow "setuptools<81"  # fer imports pkg_resources

    /work/fer_bench_venv/bin/python benchmarks/bench_fer_compare.py CLIP [--threads 1] [--json]

What runs is fer's own pipeline at its defaults: ``Video(CLIP).analyze(FER(), ...)`` with
``FER()`` = OpenCV Haar cascade face detector (``mtcnn=False``; the cascade xml ships in the
opencv wheel, ``cv2.data.haarcascades``), min face 50 px, and the quantised TFLite emotion model
shipped in the fer wheel (``use_tflite=True``); ``analyze`` with ``frequency=None`` (= every frame),
``batch_size=1``, ``output="csv"``. Only the side work that produces nothing here is switched off:
``display=False, save_frames=False, save_video=False, annotate_frames=False`` (drawing boxes on
frames nobody sees would only slow fer down). ``output="csv"`` makes fer write its ``data.csv``
into the current directory, so the script runs from a temporary directory.

``--threads N`` limits TensorFlow to N intra-op and N inter-op threads, builds fer's cached TFLite
interpreter with ``num_threads=N`` (fer's default classifier is TFLite, which ignores the
TensorFlow thread settings) and calls ``cv2.setNumThreads(N)`` (the Haar cascade, where fer spends
most of its time, runs on OpenCV's thread pool). Without it everything keeps its defaults (TFLite's
default made no extra thread here; OpenCV's pool has one thread per core).

Prints one line of JSON: frames read, frames with a face, faces, seconds for the imports, for
``FER()`` (model loading) and for ``analyze`` (decode + detect + classify of every frame), and
frames per second over ``analyze`` and over ``FER()`` + ``analyze``.
"""

from __future__ import annotations

import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import warnings  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip")
    ap.add_argument("--threads", type=int, default=0, help="limit TensorFlow, TFLite and OpenCV to N threads (0 = their defaults)")
    ap.add_argument("--json", action="store_true", help="only the JSON line on stdout")
    a = ap.parse_args()
    clip = os.path.abspath(a.clip)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TQDM_DISABLE", "1")  # no progress bar, like wildfer --quiet
    warnings.filterwarnings("ignore")
    import logging

    t0 = time.perf_counter()
    import cv2
    import tensorflow as tf

    if a.threads:
        tf.config.threading.set_intra_op_parallelism_threads(a.threads)
        tf.config.threading.set_inter_op_parallelism_threads(a.threads)
        cv2.setNumThreads(a.threads)
    import fer
    from fer.classes import Video  # fer 25.x: ``from fer import Video`` no longer exists
    from fer.fer import FER

    logging.getLogger("fer").setLevel(logging.WARNING)
    t_import = time.perf_counter() - t0

    t0 = time.perf_counter()
    if a.threads:
        import pkg_resources

        path = pkg_resources.resource_filename("fer", "data/emotion_model_quantized.tflite")
        interp = tf.lite.Interpreter(model_path=path, num_threads=a.threads)
        interp.allocate_tensors()
        FER._tflite_interpreter_cache = interp  # fer's own cache: FER() picks this interpreter up
    detector = FER()  # fer's defaults: Haar cascade, TFLite model
    t_init = time.perf_counter() - t0

    cap = cv2.VideoCapture(clip)
    declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()

    with tempfile.TemporaryDirectory(prefix="fer_bench_") as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)  # fer's to_csv writes ./data.csv
        try:
            video = Video(clip, outdir=os.path.join(tmp, "output"))
            t0 = time.perf_counter()
            rows = video.analyze(detector, display=False, output="csv", frequency=None, save_frames=False,
                                 save_video=False, annotate_frames=False, zip_images=False, batch_size=1)
            t_analyze = time.perf_counter() - t0
        except Exception as e:  # fer raises when no frame had a face ("No data in 'data'")
            if "No data" not in str(e):
                raise
            t_analyze = time.perf_counter() - t0
            rows = []
        finally:
            os.chdir(cwd)
        frames = video.frameCount  # frames read and run through detect_emotions (frequency 1)

    faces = sum(sum(1 for k in r if k.startswith("box")) for r in rows)
    out = {
        "tool": "fer", "clip": os.path.basename(clip), "fer": fer.__version__, "tensorflow": tf.__version__,
        "opencv": cv2.__version__, "threads": a.threads or "default", "cv2_threads": cv2.getNumThreads(), "frames_declared": declared,
        "frames": frames, "frames_with_face": len(rows), "faces": faces,
        "import_s": round(t_import, 3), "init_s": round(t_init, 3), "analyze_s": round(t_analyze, 3),
        "fps_analyze": round(frames / t_analyze, 2), "fps_init_analyze": round(frames / (t_init + t_analyze), 2),
        "in_process_s": round(time.perf_counter() - T_START, 3),
    }
    if not a.json:
        print(f"fer {out['fer']} (tensorflow {out['tensorflow']}, threads {out['threads']}) on {out['clip']}: "
              f"{frames} frames, {len(rows)} with a face, {faces} faces; import {t_import:.2f} s, FER() {t_init:.2f} s, "
              f"analyze {t_analyze:.2f} s = {out['fps_analyze']} fps", file=sys.stderr)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
