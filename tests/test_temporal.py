"""Temporal models (seeds 001, 003) and clip data: one prediction per input frame, padding that
changes nothing, clips of consecutive frames drawn reproducibly, every evaluation frame mapped back."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from affwild2_fixtures import write_video

from wildfer.config import AugmentConfig, load_config
from wildfer.data.affwild2 import read_affwild2
from wildfer.data.clips import clip_index, eval_clips, load_clips, train_clip_batches
from wildfer.errors import DataError
from wildfer.eval.sequence import predict_clips
from wildfer.models.registry import create_model
from wildfer.train.batches import ClipBatches
from wildfer.train.loop import fit

TEMPORAL = ["resnet101_cbam_blstm", "regnety016_transformer"]


@pytest.mark.parametrize("name", TEMPORAL)
@pytest.mark.parametrize("k", [7, 8])
def test_one_prediction_per_frame_and_padding_is_inert(name, k):
    torch.manual_seed(0)
    m = create_model(name, k, 3, 32, backbone="test_resnet").eval()
    assert m.is_temporal and m.seq_len == (8 if name.startswith("resnet") else 64)
    x = torch.randn(2, 5, 3, 32, 32)
    with torch.no_grad():
        assert m(x).shape == (2, 5, k)
        mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
        padded = x.clone()
        padded[1, 3:] = 0
        out = m(padded, mask)
        alone = m(x[1:2, :3])  # the same three frames without padding
    assert torch.allclose(out[1, :3], alone[0], atol=1e-5)


def test_cbam_is_in_every_residual_block():
    m = create_model("resnet101_cbam_blstm", 7, 3, 32)
    blocks = [b for layer in (m.backbone.layer1, m.backbone.layer2, m.backbone.layer3, m.backbone.layer4) for b in layer]
    assert len(blocks) == 33  # ResNet-101: 3 + 4 + 23 + 3 bottlenecks
    assert all(type(b.se).__name__ == "CbamModule" for b in blocks)
    plain = create_model("resnet101_cbam_blstm", 7, 3, 32, backbone="resnet10t", cbam=False)
    assert plain.backbone.layer1[0].se is None


def test_regnety016_transformer_matches_the_paper():
    m = create_model("regnety016_transformer", 8, 3, 112)
    assert m.num_features == 888  # "the backbone is extracted with 888 features"
    enc = m.head.encoder.layers
    assert len(enc) == 1 and enc[0].self_attn.num_heads == 2 and enc[0].linear1.out_features == 512
    assert m.head.proj.out_features == 64 and m.head.classifier[1].in_features == 888 + 64


@pytest.fixture
def videos(tmp_path):
    """vidA: 9 frames, frame 5 missing on disk (no face); vidB: 3 frames; vidC: 20, one unlabelled."""
    ann, frames = tmp_path / "ann", tmp_path / "frames"
    write_video(ann, frames, "vidA", [0, 1, 2, 3, 4, 5, 6, 0, 1], frames=[1, 2, 3, 4, 6, 7, 8, 9])
    write_video(ann, frames, "vidB", [2, 2, 2])
    labels = [i % 7 for i in range(20)]
    labels[10] = -1
    write_video(ann, frames, "vidC", labels)
    ds, _ = read_affwild2(ann, frames, in_chans=3, size=16)
    return ds


def test_training_clips_are_consecutive_and_reproducible(videos):
    ds = videos
    idx = clip_index(ds, 4)
    assert idx.report.dropped == {"videos without 4 consecutive labelled frames": 1}  # vidB
    a = train_clip_batches(idx, 3, 40, seed=1, epoch=2)
    assert train_clip_batches(idx, 3, 40, seed=1, epoch=2, first=17)[0].tolist() == a[17].tolist()
    assert a[0].tolist() != train_clip_batches(idx, 3, 40, seed=1, epoch=3)[0].tolist()
    clips = np.concatenate(a)
    assert clips.shape == (120, 4)
    for c in clips:
        assert len(set(ds.videos[c])) == 1 and np.all(np.diff(ds.frames[c]) == 1)
        assert np.all(ds.targets[c] >= 0)
    # Videos are drawn with equal probability: vidA (7 labelled frames) as often as vidC (19).
    share_a = np.mean(ds.videos[clips[:, 0]] == "vidA")
    assert 0.35 < share_a < 0.65


def test_too_long_clips_are_a_clear_error(videos):
    with pytest.raises(DataError, match="lower model.seq_len"):
        clip_index(videos, 50)


def test_evaluation_covers_every_frame_in_order(videos):
    ds = videos
    clips = eval_clips(ds, 4)
    flat = clips[clips >= 0]
    assert sorted(flat.tolist()) == list(range(len(ds)))  # every frame exactly once
    for c in clips:  # padding only at the end, within one video, frames ascending
        valid = c[c >= 0]
        assert np.all(c[: len(valid)] >= 0) and len(set(ds.videos[valid])) == 1
        assert np.all(np.diff(ds.frames[valid]) > 0)
    x, mask = load_clips(ds, clips[:2])
    assert x.shape == (2, 4, 3, 16, 16) and x.dtype == torch.uint8 and mask.shape == (2, 4)


def test_per_frame_predictions_map_back_to_frames(videos):
    ds = videos
    torch.manual_seed(0)
    m = create_model("resnet101_cbam_blstm", 7, 3, 16, backbone="test_resnet", hidden=8).eval()
    probs = predict_clips(m, [0.5] * 3, [0.25] * 3, ds, seq_len=4, batch_clips=3)
    assert probs.shape == (len(ds), 7) and np.allclose(probs.sum(1), 1, atol=1e-5)
    # vidB has 3 frames: one clip of 3 + 1 padding; its rows must equal the model on those 3 frames.
    rows = np.flatnonzero(ds.videos == "vidB")
    x = ds.load(rows.tolist()).float().div(255).sub(0.5).div(0.25)[None]
    with torch.no_grad():
        direct = torch.softmax(m(x), -1)[0].numpy()
    assert np.allclose(probs[rows], direct, atol=1e-5)
    assert ds.frames[rows].tolist() == [1, 2, 3]


def test_clip_augmentation_is_the_same_for_every_frame_of_a_clip(videos):
    b = ClipBatches(videos, batch_size=2, seq_len=3, seed=0)
    frame = torch.rand(1, 1, 3, 16, 16)
    x = frame.expand(2, 3, 3, 16, 16).clone()  # every frame of both clips identical
    cfg = AugmentConfig(hflip=0.5, rotate=20, scale=0.1, translate=0.1, multires=(4, 12), grayscale=0.5, erase=0.5)
    y = b.augment(x, cfg, torch.Generator().manual_seed(3))
    # (interpolation vectorises over channels, so frames may differ in the last float bit)
    assert torch.allclose(y[:, 0], y[:, 1], atol=1e-6) and torch.allclose(y[:, 0], y[:, 2], atol=1e-6)
    assert (y - x).abs().max() > 0.1


def test_temporal_training_resumes_exactly(videos, tmp_path):
    """Interrupted after a mid-epoch checkpoint, the run ends with the same weights as in one go."""
    ann = tmp_path / "ann"
    base = [f"data.dataset=affwild2", f"data.annotations={ann}", f"data.frames={tmp_path / 'frames'}",
            "model.name=regnety016_transformer", "model.input_size=16", "model.in_chans=3", "model.seq_len=3",
            "model.kwargs={backbone: test_resnet}", "batch_size=2", "threads=1", "ckpt_every=2",
            f"out_dir={tmp_path / 'runs'}", "optim.lr=1e-3", "augment.hflip=0.5"]
    one = fit(load_config(None, base + ["name=one", "epochs=2"]), quiet=True)
    fit(load_config(None, base + ["name=two", "epochs=1"]), quiet=True)  # stops after epoch 1
    two = fit(load_config(None, base + ["name=two", "epochs=2"]), resume=True, quiet=True)
    from safetensors.torch import load_file

    a, b = load_file(one / "last.safetensors"), load_file(two / "last.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    log = [json.loads(line) for line in (two / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2]
