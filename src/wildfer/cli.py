"""The ``wildfer`` command: parse arguments, call one library function, print one line on error."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from . import __version__
from .errors import WildferError
from .images import MAX_PIXELS
from .runtime import require_torch
from .pipeline.options import PREDICT_DEFAULTS

# Exit codes (README, "What it does"): 0 done.
INTERRUPTED = 130  # exit code after Ctrl-C (128 + SIGINT), as shells report it
USAGE = 2  # exit code of a usage mistake or a WildferError, as click uses for usage errors
PARTIAL = 1  # predict: done, but some inputs could not be read (each named on stderr and in report.html)
RESUMABLE = ("predict", "train")  # the commands whose Ctrl-C line says --resume finishes the work

# rich_markup_mode=None: click's plain help. typer 0.29's rich help shows every flag as taking a
# value (`--annotate <bool>`, even `--help <bool>`), and `--annotate true` then reads "true" as an input.
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Facial expressions of people in in-the-wild photos and video.")


# Every choice is named in the help (tests/test_robustness.py checks the rendered help against
# the registries): listing them here keeps `wildfer --help` from importing the detectors.
MODELS_HELP = ("a shipped name (default, fast, default-int8, fast-int8), a .safetensors checkpoint, a training run "
               "folder (its best.safetensors) or an .onnx file")
DETECTORS = "blazeface-short, blazeface-full, blazeface (= blazeface-short), mtcnn, yunet or yunet+mtcnn"


def _plugin_option():
    return typer.Option(None, "--plugin", metavar="MODULE",
                        help="Import MODULE first (repeatable): your own models, registered with "
                             "@register_model (a recipe's plugins: key does the same; see README).")


def _with_plugins(cfg, plugin: Optional[List[str]]):
    """``cfg`` with the --plugin modules after the recipe's own (recorded in its config.yaml)."""
    from dataclasses import replace

    return replace(cfg, plugins=tuple(dict.fromkeys((*cfg.plugins, *(plugin or ()))))) if plugin else cfg


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"wildfer {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_show_version,
                                 help="Print the version and exit."),
) -> None:
    """Facial expressions of people in in-the-wild photos and video."""


@app.command()
def train(
    config: Path = typer.Argument(..., help="Recipe YAML (see recipes/)."),
    overrides: Optional[List[str]] = typer.Argument(None, help="key.sub=value overrides, e.g. optim.lr=1e-4"),
    resume: bool = typer.Option(False, "--resume", help="Continue the run folder's last checkpoint with the run's "
                                "own config.yaml (changing epochs extends it). Without it, a folder that holds a "
                                "run is refused."),
    dry_run: bool = typer.Option(False, "--dry-run", help="One batch of training and validation, in the scratch "
                                 "folder <out_dir>/dry_run/<name> (the run folder is not touched)."),
    out_dir: Optional[Path] = typer.Option(None, "--out-dir", help="Folder for run folders (default: config's out_dir)."),
    name: Optional[str] = typer.Option(None, "--name", help="Run name (default: config's name)."),
    backbones: Optional[Path] = typer.Option(None, "--backbones",
                                             help="The unpacked package holding model.backbone "
                                                  "(default: $WILDFER_BACKBONES); see README."),
    nproc_per_node: int = typer.Option(1, "--nproc-per-node", min=1,
                                       help="Train in N processes on this machine (DDP, one per GPU); "
                                            "several machines: start torchrun -m wildfer yourself (README)."),
    plugin: Optional[List[str]] = _plugin_option(),
) -> None:
    """Train a model from a recipe."""
    require_torch("wildfer train")
    from .config import load_config
    from .train.rundir import plan_run

    ov = list(overrides or [])
    if out_dir is not None:
        ov.append(f"out_dir={out_dir}")
    if name is not None:
        ov.append(f"name={name}")
    if backbones is not None:
        ov.append(f"model.backbone_root={backbones}")
    cfg = _with_plugins(load_config(config, ov), plugin)
    # The run folder's refusals (and "finished") before torch is imported or processes start.
    plan = plan_run(cfg, resume, dry_run)
    if plan.finished:
        typer.echo(plan.note)
        return
    from .train import distributed

    if nproc_per_node > 1:
        distributed.check_launch(cfg.batch_size, cfg.device, nproc_per_node)
        flags = ["--resume"] * resume + ["--dry-run"] * dry_run + [f for p in plugin or () for f in ("--plugin", p)]
        distributed.launch_local(nproc_per_node, ["train", str(config), *ov, *flags])
        return
    from .train.loop import fit

    run = fit(cfg, resume=resume, dry_run=dry_run)
    if distributed.is_main():
        typer.echo(f"{'dry-run scratch folder' if dry_run else 'run folder'}: {run}")


@app.command()
def evaluate(
    dataset: str = typer.Option("fer2013", "--dataset", help="fer2013 | affwild2 | folder | boxes"),
    root: Path = typer.Option(..., "--root", help="fer2013: folder with fer2013.csv[.gz] (+ fer2013new.csv); "
                              "affwild2: annotation folder; folder: root/<class>/*.jpg; "
                              "boxes: labels.csv (image,x0,y0,x1,y1,label) + images/"),
    split: str = typer.Option("PublicTest", "--split", help="FER2013 Usage value (Training, PublicTest, PrivateTest)."),
    labels: str = typer.Option("fer2013", "--labels", help="fer2013 | ferplus (FER+ majority votes)"),
    model: str = typer.Option("default", "--model", metavar="NAME|FILE", help=f"Model to score: {MODELS_HELP}."),
    frames: Optional[Path] = typer.Option(None, "--frames", help="affwild2: the cropped_aligned folder."),
    force: bool = typer.Option(False, "--force", help="Score even if test videos were seen in training (flagged)."),
    backend: str = typer.Option("auto", "--backend",
                                help="torch | onnx | auto (onnxruntime; implied by a .onnx --model, default-int8 or fast-int8; auto: the "
                                     "int8 copy of a shipped model if onnxruntime is installed)."),
    detector: Optional[str] = typer.Option(None, "--detector", metavar="NAME",
                                           help=f"Face detector of the boxes dataset's end-to-end score: {DETECTORS} "
                                                "(default: predict's photo detector)."),
    box_scale: float = typer.Option(1.0, "--box-scale", help="boxes: classifier-only crops are this x the box's longer side."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    out: Path = typer.Option(..., "--out", help="Output folder: metrics.json, report.md, confusion.png."),
    plugin: Optional[List[str]] = _plugin_option(),
) -> None:
    """Score a model; writes metrics.json, report.md and confusion.png."""
    from .eval.evaluate import evaluate as run
    from .plugins import load_plugins

    load_plugins(plugin or ())

    m = run(dataset, root, out, split=split, labels=labels, model=model, frames=frames, force=force, backend=backend,
            detector=detector, box_scale=box_scale, progress=not quiet)
    extra = ""
    if "classifier_only" in m:
        c = m["classifier_only"]
        extra = (f" detection_recall={m['detection_recall']:.4f}; classifier only: accuracy={c['accuracy']:.4f} "
                 f"macro_f1={c['macro_f1']:.4f}")
    typer.echo(f"n={m['n']} accuracy={m['accuracy']:.4f} macro_f1={m['macro_f1']:.4f} "
               f"abaw2_score={m['abaw2_score']:.4f}{extra} -> {out}")


@app.command()
def pack(
    out: Path = typer.Argument(..., help="Output folder for the pack (manifest.json, images-*.npy shards, per-sample arrays)."),
    dataset: str = typer.Option("fer2013", "--dataset", help="fer2013 | affwild2 | folder | boxes"),
    root: Path = typer.Option(..., "--root", help="fer2013: folder with fer2013.csv[.gz] (+ fer2013new.csv); "
                              "affwild2: annotation folder; folder: root/<class>/*.jpg; "
                              "boxes: labels.csv (image,x0,y0,x1,y1,label) + images/"),
    split: str = typer.Option("Training", "--split", help="fer2013: Usage value (Training, PublicTest, PrivateTest)."),
    labels: str = typer.Option("fer2013", "--labels", help="fer2013: fer2013 | ferplus | mixed (FER2013 hard + FER+ soft)"),
    frames: Optional[Path] = typer.Option(None, "--frames", help="affwild2: the cropped_aligned folder."),
    size: int = typer.Option(48, "--size", help="Square side in pixels: the model's input size (model.input_size)."),
    chans: int = typer.Option(1, "--chans", help="1 = grey, 3 = RGB (model.in_chans)."),
    shard_size: Optional[int] = typer.Option(None, "--shard-size", help="Images per shard (default: 1 GiB shards)."),
    workers: int = typer.Option(0, "--workers", help="Processes that decode images while packing."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a pack already in OUT."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Decode a dataset once into memory-mapped uint8 shards at the model input size (data.dataset: packed)."""
    require_torch("wildfer pack")
    from .data.packed import pack as run_pack

    info = run_pack(dataset, root, out, split=split, labels=labels, frames=frames, size=size, in_chans=chans,
                    shard_size=shard_size, workers=workers, overwrite=overwrite, progress=not quiet)
    typer.echo(info.summary())


@app.command()
def split(
    annotations: Path = typer.Argument(..., help="Aff-Wild2 annotation folder (<video>.txt files), or EXPR_Set-style "
                                                 "parent (its training folder is split)."),
    out_dir: Path = typer.Argument(..., help="Writes OUT_DIR/train/*.txt, OUT_DIR/val/*.txt and OUT_DIR/split.json."),
    val_fraction: float = typer.Option(0.2, "--val-fraction", help="Share of labelled frames for validation."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the split."),
    symlink: bool = typer.Option(False, "--symlink", help="Symlink the annotation files instead of copying them."),
) -> None:
    """Subject-independent train/validation split of an annotation folder, by video (_left/_right together)."""
    from .data.splits import split_annotations

    result = split_annotations(annotations, out_dir, val_fraction=val_fraction, seed=seed, symlink=symlink)
    typer.echo(result.summary())
    typer.echo(f"written: {out_dir / 'train'}, {out_dir / 'val'}, {out_dir / 'split.json'}")


@app.command()
def predict(
    inputs: Optional[List[str]] = typer.Argument(None, metavar="INPUT", help="One or more videos, photos, folders or glob "
                                                 "patterns to read (INPUT...); or one live stream: rtsp://, udp://, "
                                                 "http(s)://."),
    out: Path = typer.Option(..., "--out", help="Folder for predictions.csv, report.html and the other outputs."),
    model: str = typer.Option("default", "--model", metavar="NAME|FILE", help=f"Expression model: {MODELS_HELP}."),
    detector: str = typer.Option(PREDICT_DEFAULTS.detector, "--detector", metavar="NAME",
                                 help=f"Video face detector: auto, {DETECTORS}; auto is blazeface-short when "
                                      "onnxruntime is installed, else mtcnn."),
    check_detector: str = typer.Option(PREDICT_DEFAULTS.check_detector or "none", "--check-detector", metavar="NAME",
                                       help="Slower detector that checks --detector on video frames and takes over "
                                            f"while it misses faces: {DETECTORS}, or none."),
    check_max: int = typer.Option(PREDICT_DEFAULTS.check_max, "--check-max",
                                  help="Most video frames between two checks while --detector finds every face."),
    photo_detector: str = typer.Option(PREDICT_DEFAULTS.photo_detector, "--photo-detector", metavar="NAME",
                                       help=f"Face detector for photos: {DETECTORS}."),
    photo_max_side: Optional[int] = typer.Option(PREDICT_DEFAULTS.photo_max_side, "--photo-max-side",
                                                 help="Longer side in pixels that photos are scaled down to for "
                                                      "detection (default: yunet 640, mtcnn 1280; 0 = full size)."),
    photo_min_face: int = typer.Option(PREDICT_DEFAULTS.photo_min_face, "--photo-min-face",
                                       help="Smallest face side to find in photos, in pixels."),
    detect_every: int = typer.Option(PREDICT_DEFAULTS.detect_every, "--detect-every",
                                     help="Run the video detector on every k-th processed frame and follow faces by "
                                          "optical flow in between."),
    detect_size: int = typer.Option(PREDICT_DEFAULTS.detect_max_side, "--detect-size",
                                    help="Longer side in pixels that video frames are scaled down to for detection "
                                         "(0 = full size)."),
    min_face: int = typer.Option(PREDICT_DEFAULTS.min_face, "--min-face",
                                 help="Smallest face side to find in videos, in pixels."),
    stride: int = typer.Option(PREDICT_DEFAULTS.stride, "--stride", help="Process every n-th frame of a video."),
    smooth: float = typer.Option(PREDICT_DEFAULTS.smooth_s, "--smooth",
                                 help="Smoothing window per person in seconds (0 = off; photos are never smoothed)."),
    batch_size: int = typer.Option(PREDICT_DEFAULTS.batch_size, "--batch-size", help="Faces per classifier batch."),
    classify_every: int = typer.Option(PREDICT_DEFAULTS.classify_every, "--classify-every",
                                       help="Video: classify each person's face on every k-th frame (and at least "
                                            "twice per smoothing window); the frames between take the window's mean."),
    annotate: bool = typer.Option(False, "--annotate",
                                  help="Also write annotated/<video>.mp4 and annotated/<photo>.jpg with boxes and labels."),
    abaw: bool = typer.Option(False, "--abaw",
                              help="Also write the ABAW challenge files abaw/<video>.txt and abaw_predictions.txt."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write a timeline plot PNG per video."),
    threads: int = typer.Option(1, "--threads", help="CPU threads for the detectors and the classifier."),
    backend: str = typer.Option(PREDICT_DEFAULTS.backend, "--backend", metavar="auto|torch|onnx",
                                help="Classifier runtime; auto runs a shipped model as its int8 copy on onnxruntime "
                                     "when that is installed, else on torch."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Also read the photos and videos in the "
                                   "subfolders of a folder (else they are named as not searched)."),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first input that cannot be read, before any "
                                "work (else every readable input is processed and the others are named; exit 1)."),
    quiet: bool = typer.Option(False, "--quiet", help="Show no progress."),
    resume: bool = typer.Option(False, "--resume", help="Keep what an interrupted run into --out finished and do the rest."),
    overwrite: bool = typer.Option(False, "--overwrite",
                                   help="Delete an earlier run's outputs in --out first (wildfer's own files only)."),
    workers: Optional[int] = typer.Option(None, "--workers",
                                          help="Worker processes, each taking whole sources (default 1; with --ray, "
                                               "as many as the cluster holds)."),
    ray: Optional[str] = typer.Option(None, "--ray", metavar="ADDRESS",
                                      help="Run on a Ray cluster: local, auto, HOST:PORT or ray://HOST:10001 "
                                           "(needs the ray extra)."),
    demo: bool = typer.Option(False, "--demo", help="Build a demo clip from matplotlib's sample photo in --out and run on it."),
    camera: Optional[int] = typer.Option(None, "--camera", metavar="N",
                                         help="Read camera N (/dev/videoN, V4L2) live, until Ctrl-C."),
    stream_timeout: float = typer.Option(PREDICT_DEFAULTS.stream_timeout_s, "--stream-timeout",
                                         help="A live stream that sends no frame for this many seconds has ended."),
    plugin: Optional[List[str]] = _plugin_option(),
) -> None:
    """Expressions of every face in photos and videos -> OUT/predictions.csv and report.html."""
    from .errors import ConfigError
    from .outputs.console import face_table, run_summary
    from .pipeline.options import PredictOptions
    from .runners import predict as run_predict

    paths = list(inputs or [])
    if demo:
        from .pipeline.demo import build_demo_clip

        paths.append(str(build_demo_clip(Path(out) / "demo.mp4")))
    if camera is not None:
        paths.append(f"/dev/video{camera}")
    if not paths:
        raise ConfigError("give at least one video, photo, folder or glob (or --demo)")
    opts = PredictOptions(model=model, detector=detector, check_detector=check_detector, check_max=check_max,
                          photo_detector=photo_detector, photo_max_side=photo_max_side, photo_min_face=photo_min_face,
                          detect_every=detect_every, detect_max_side=detect_size if detect_size else None,
                          min_face=min_face, stride=stride, smooth_s=smooth, batch_size=batch_size,
                          classify_every=classify_every, annotate=annotate, abaw=abaw, plots=plots,
                          progress=not quiet, threads=threads, recursive=recursive, strict=strict, backend=backend,
                          resume=resume, overwrite=overwrite, ray=ray, stream_timeout_s=stream_timeout,
                          plugins=tuple(plugin or ()),
                          workers=workers if workers is not None else 0 if ray else PREDICT_DEFAULTS.workers)
    res = run_predict(paths, out, opts)
    if res.resumed and not res.logs and not res.failed:
        typer.echo(f"nothing to do: all {len(res.resumed)} source(s) were finished by an earlier run into {out}, "
                   f"whose outputs are kept (report: {res.report})")
        return
    for skipped in res.skipped:
        typer.echo(f"wildfer: note: {skipped}", err=True)
    for warning in res.warnings:
        typer.echo(f"wildfer: warning: {warning}", err=True)
    for _, error in res.failed:
        typer.echo(f"wildfer: warning: not read: {error}", err=True)
    if res.resumed:
        typer.echo(f"{len(res.resumed)} source(s) finished by an earlier run were kept, not redone")
    typer.echo(face_table(res))
    if res.live:
        from .outputs.console import live_line

        typer.echo(live_line(res.live))
    typer.echo(run_summary(res))
    if res.failed:  # the others' outputs are written; exit PARTIAL so that scripts notice the gap
        typer.echo(f"wildfer: error: {len(res.failed)} input(s) could not be read, the rest are done (--resume "
                   f"retries only these): {res.failed[0][1]}"
                   + (f" (and {len(res.failed) - 1} more, named above)" if len(res.failed) > 1 else ""), err=True)
        raise typer.Exit(PARTIAL)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; other than loopback needs --token."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    data: Path = typer.Option(Path("wildfer-data"), "--data",
                              help="Folder for video jobs and uploads in flight; nothing is written elsewhere."),
    token: Optional[str] = typer.Option(None, "--token", help="Bearer token every route but /healthz needs "
                                        "(default: $WILDFER_TOKEN)."),
    workers: int = typer.Option(1, "--workers", help="Photos analysed at once (a model each) and video jobs run at once."),
    ray: Optional[str] = typer.Option(None, "--ray", metavar="ADDRESS",
                                      help="Run video jobs on a Ray cluster, as predict --ray (local, auto, HOST:PORT, "
                                           "ray://HOST:10001)."),
    max_upload_mb: float = typer.Option(200.0, "--max-upload-mb", help="Largest request body, MB (413 above)."),
    max_pixels: int = typer.Option(MAX_PIXELS, "--max-pixels",
                                   help="Largest photo or video frame, width x height (413 above); at most "
                                        "wildfer's own limit, the default."),
    queue: int = typer.Option(64, "--queue", help="Photos and video jobs that may wait; more get 503."),
    model: Optional[List[str]] = typer.Option(None, "--model", metavar="NAME|FILE",
                                              help=f"An expression model to offer (repeatable; the first is the "
                                                   f"default, requests pick one with ?model=NAME): {MODELS_HELP}. "
                                                   "Default: default."),
) -> None:
    """HTTP API and a web page: POST /v1/analyze (photos), /v1/videos (jobs), GET / (the page)."""
    from .serve.config import ServeConfig

    try:
        from .serve.app import serve as run_server
        import fastapi, uvicorn  # noqa: E401,F401 -- the extra's parts, checked before anything starts
    except ImportError as e:
        raise WildferError(f"serve needs the serve extra: pip install 'wildfer[serve]' ({e})") from None
    run_server(ServeConfig(host=host, port=port, data=data, token=token, workers=workers, ray=ray,
                           max_upload_mb=max_upload_mb, max_pixels=max_pixels, queue=queue,
                           models=tuple(model or ("default",))))


@app.command()
def preprocess(
    videos: Path = typer.Argument(..., help="Folder of videos (or one video)."),
    out: Path = typer.Argument(..., help="Output folder; crops go to OUT/cropped_aligned/<video>/00001.jpg."),
    detect_every: int = typer.Option(1, "--detect-every", help="Run the detector on every k-th frame; optical flow between."),
    detect_size: int = typer.Option(640, "--detect-size", help="Longer side for detection, pixels; 0 = full size."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Aff-Wild2-style 112x112 aligned face crops from your own videos."""
    from .runners.preprocess import preprocess_videos

    for r in preprocess_videos(videos, out, detect_every=detect_every, max_side=detect_size or None, progress=not quiet):
        folders = ", ".join(f"{k} ({v} crops)" for k, v in r.folders.items()) or "no face found"
        note = f"; decoding stopped after {r.frames} frames ({r.error})" if r.error else ""
        typer.echo(f"{r.video.name}: {r.frames} frames -> {folders}{note}")


@app.command("lr-find")
def lr_find(
    config: Path = typer.Argument(..., help="Recipe YAML (see recipes/)."),
    overrides: Optional[List[str]] = typer.Argument(None, help="key.sub=value overrides"),
    out: Path = typer.Option(Path("lr_find"), "--out", help="Folder for lr_find.json/.csv/.png."),
    iters: Optional[int] = typer.Option(None, "--iters", help="Iterations (default: optim.lr_find_iters)."),
    plugin: Optional[List[str]] = _plugin_option(),
) -> None:
    """LR range test: train briefly with a growing LR and suggest one (seed 003)."""
    require_torch("wildfer lr-find")
    from .config import load_config
    from .train.find_lr import find_lr

    res = find_lr(_with_plugins(load_config(config, list(overrides or [])), plugin), out, iters)
    typer.echo(f"suggested lr: {res.suggestion:.3g} ({len(res.lrs)} iterations; curve: {out / 'lr_find.png'})")


@app.command()
def ablate(
    spec: Path = typer.Argument(..., help="Ablation spec YAML: cells (recipes + overrides) and/or a grid."),
    dry_run: bool = typer.Option(False, "--dry-run", help="One batch per cell, under <out_dir>/dry_run/."),
    plugin: Optional[List[str]] = _plugin_option(),
) -> None:
    """Train every cell of a grid or recipe list (resuming unfinished ones) and write one comparison table."""
    require_torch("wildfer ablate")
    from .train.ablate import run_ablation

    out = run_ablation(spec, dry_run=dry_run, plugins=tuple(plugin or ()))
    typer.echo(f"comparison: {out / 'results.md'}, {out / 'results.csv'}, {out / 'confusion'}/")


@app.command()
def export(
    model: str = typer.Argument(..., help="Checkpoint path, training run folder (its best.safetensors) or shipped name (default)."),
    out: Path = typer.Argument(..., help="Output .onnx file (metadata embedded; batch axis dynamic)."),
    opset: int = typer.Option(17, "--opset", help="ONNX opset."),
    int8: bool = typer.Option(False, "--int8", help="Static int8 quantisation (onnxruntime), calibrated on --calib faces."),
    calib: Optional[Path] = typer.Option(None, "--calib", help="--int8: a FER2013 folder (Training split) or a folder of face crops."),
    calib_n: int = typer.Option(512, "--calib-n", help="--int8: number of calibration faces."),
    plugin: Optional[List[str]] = _plugin_option(),
) -> None:
    """Export a model to ONNX for onnxruntime (frame: (B,C,S,S); temporal: (B,T,C,S,S), T = seq_len)."""
    require_torch("wildfer export")
    from .plugins import load_plugins

    load_plugins(plugin or ())
    try:
        from .models.onnx_export import export_onnx
        from .models.onnx_model import read_onnx_meta
    except ImportError as e:
        raise WildferError(f"export needs onnx and onnxruntime: pip install 'wildfer[onnx]' ({e})") from None
    if int8:
        from .models.quantize import quantize_int8

        if calib is None:
            raise WildferError("--int8 needs --calib: a FER2013 folder or a folder of face crops like the model's inputs")
        path = quantize_int8(model, out, calib, calib_n)
        m = read_onnx_meta(path).metrics
        typer.echo(f"int8 vs float on the {m['calibration_images']} calibration faces: same top class for "
                   f"{m['int8_agreement']:.1%}, mean |p_int8 - p_float| {m['int8_mean_abs_prob_diff']:.4f} "
                   "(faces it was calibrated on: an optimistic figure; score held-out faces with wildfer evaluate)")
    else:
        path = export_onnx(model, out, opset)
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


@app.command()
def runs(
    root: Path = typer.Argument(Path("runs"), help="Folder of run folders (searched at any depth)."),
    csv: Optional[Path] = typer.Option(None, "--csv", help="Also write the table as CSV here (full precision)."),
) -> None:
    """List training runs: status, best epoch and its validation metrics, and the config keys that differ."""
    from .train.compare import runs_report

    typer.echo(runs_report(root, csv))



def _usage_error_types() -> tuple[type[BaseException], ...]:
    """The exceptions typer raises for a usage mistake (unknown option or command, missing or
    malformed value). typer 0.29 vendors click as ``typer._click``, whose exceptions derive from
    ``typer.TyperException``; older typer raised ``click.ClickException``. Both are caught, so the
    versions pyproject.toml allows all give one line (tests/test_robustness.py runs the installed
    ``wildfer`` script)."""
    types: list[type[BaseException]] = []
    if hasattr(typer, "TyperException"):
        types.append(typer.TyperException)
    try:
        import click
    except ImportError:
        pass
    else:
        types.append(click.ClickException)
    return tuple(types)


def _usage_line(e: BaseException) -> str:
    """One line for a usage error: click's message and where the help is (click prints 4 lines).

    An unknown option keeps only the suggestions whose names (without the dashes) are close:
    click compares them with the dashes, so ``--colour`` was offered ``--out`` ("--" + "ou")."""
    msg = " ".join(str(e.format_message()).split())
    option, offered = getattr(e, "option_name", None), getattr(e, "possibilities", None)
    if option and offered is not None:
        from difflib import get_close_matches

        bare = {o.lstrip("-"): o for o in offered}
        close = [bare[b] for b in get_close_matches(option.lstrip("-"), list(bare), n=3, cutoff=0.6)]
        msg = f"No such option: {option}" + (f" (did you mean {' or '.join(close)}?)" if close else "")
    ctx = getattr(e, "ctx", None)
    if ctx is not None:
        msg += f" (see '{ctx.command_path} --help')"
    return f"wildfer: error: {msg}"


def main(argv: list[str] | None = None) -> int:
    """The ``wildfer`` console script: returns the exit code (0 done, 2 a usage mistake or bad
    input, printed as one ``wildfer: error: ...`` line, 130 interrupted)."""
    args = sys.argv[1:] if argv is None else list(argv)
    if not args:  # bare `wildfer`: the help, and success (click would exit 2 after it)
        args = ["--help"]
    interrupted = "wildfer: interrupted"
    if args[0] in RESUMABLE:
        interrupted += f"; what was finished is kept: run the same command with --resume to do the rest"
    try:
        code = app(args=args, prog_name="wildfer", standalone_mode=False)
    except WildferError as e:
        typer.echo(f"wildfer: error: {e}", err=True)
        return USAGE
    except (typer.Abort, KeyboardInterrupt):
        typer.echo(interrupted, err=True)
        return INTERRUPTED
    except typer.Exit as e:
        return e.exit_code
    except _usage_error_types() as e:
        typer.echo(_usage_line(e), err=True)
        return getattr(e, "exit_code", USAGE) or USAGE
    except OSError as e:
        # A file-system refusal about a path the user named (a file where a folder must be, no
        # permission, disk full): the path and the reason. Without a path it may be a bug: raise.
        if e.filename is None:
            raise
        typer.echo(f"wildfer: error: {e.filename}: {e.strerror or e}", err=True)
        return USAGE
    # With standalone_mode=False typer returns an Exit's code instead of raising it, and it turns
    # Ctrl-C into Exit(130) itself (typer 0.29), so an interrupt arrives here as a return value;
    # the commands themselves return None.
    if code == INTERRUPTED:
        typer.echo(interrupted, err=True)
        return INTERRUPTED
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
