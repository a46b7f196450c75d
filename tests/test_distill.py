"""Offline distillation (``data.teacher``): a real teacher checkpoint labels the training set once."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from test_train import recipe
from wildfer.cli import main
from wildfer.config import load_config
from wildfer.data.builders import build_data
from wildfer.errors import ConfigError
from wildfer.eval.predict import predict_dataset
from wildfer.models.weights import load_model
from wildfer.train.distill import distill_targets, soften
from wildfer.train.loop import prepare


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    """A real checkpoint: one dry-run training batch of a FER+-order (mixed) model at 32 px."""
    tmp = tmp_path_factory.mktemp("teacher")
    assert main(["train", str(recipe(tmp)), "--dry-run"]) == 0
    return tmp / "runs" / "dry_run" / "tiny" / "best.safetensors"


def test_targets_mix_own_soft_labels_with_the_mirrored_teacher(tmp_path, teacher):
    cfg = load_config(recipe(tmp_path, **{"data.teacher": str(teacher), "data.teacher_weight": 0.3,
                                          "model.kwargs": {"channels": [8, 16, 32, 64], "stem_width": 8}}))
    plain = build_data(load_config(recipe(tmp_path))).train
    _, _, train, _, _ = prepare(cfg, quiet=True)
    model, meta = load_model(teacher)
    flipped = type(plain)(plain.images.flip(-1), plain.targets, plain.label_set, plain.soft)
    p = (predict_dataset(model, meta.mean, meta.std, plain) + predict_dataset(model, meta.mean, meta.std, flipped)) / 2
    np.testing.assert_allclose(train.soft, 0.7 * plain.soft + 0.3 * p, atol=1e-5)
    np.testing.assert_allclose(train.soft.sum(1), 1, atol=1e-5)


def test_a_student_trains_from_the_teacher(tmp_path, teacher):
    p = recipe(tmp_path, **{"data.teacher": str(teacher), "model.kwargs": {"channels": [8, 16, 32, 64], "stem_width": 8}})
    assert main(["train", str(p), "--dry-run"]) == 0
    student, meta = load_model(tmp_path / "runs" / "dry_run" / "tiny" / "best.safetensors")
    assert meta.config["data"]["teacher"] == str(teacher)
    assert sum(t.numel() for t in student.parameters()) < sum(t.numel() for t in load_model(teacher)[0].parameters()) / 10


def test_a_dry_run_teacher_labels_only_what_it_trains_on(tmp_path, teacher, capsys):
    """A dry run trains one batch: the teacher labels at most 8 batches (of 40 images here, 2 x 8 =
    16 at batch_size 2), not the whole set; a real run labels all 40."""
    p = recipe(tmp_path, **{"data.teacher": str(teacher), "batch_size": 2})
    assert main(["train", str(p), "--dry-run"]) == 0
    assert "labelled 16 training images" in capsys.readouterr().out
    cfg = load_config(p)
    _, _, train, _, _ = prepare(cfg, quiet=True)
    assert len(train) == 40


def test_a_teacher_with_other_classes_is_refused(tmp_path, teacher):
    # FER2013 order, 7 classes vs the teacher's FER+ 8
    cfg = load_config(recipe(tmp_path, **{"data.teacher": str(teacher), "data.labels": "fer2013"}))
    with pytest.raises(ConfigError, match="classes") as e:
        prepare(cfg, quiet=True)
    assert str(teacher) in str(e.value)


@pytest.mark.parametrize("size, chans", [(40, 1), (32, 3)])
def test_a_teacher_of_another_input_labels_the_images_resized_to_its_own(tmp_path, teacher, size, chans):
    import torch.nn.functional as F

    from wildfer.labels import FERPLUS
    from wildfer.train.distill import teacher_probs

    cfg = load_config(recipe(tmp_path, **{"model.input_size": size, "model.in_chans": chans}))
    ds = build_data(cfg).train.subset(np.arange(16))
    model, meta = load_model(teacher)  # 32 px grey
    x = ds.images.float().mean(1, keepdim=True)
    x = F.interpolate(x, size=(meta.input_size,) * 2, mode="bilinear", antialias=True, align_corners=False).round().clamp(0, 255)
    own = type(ds)(x.to(torch.uint8), ds.targets, ds.label_set)
    want = (predict_dataset(model, meta.mean, meta.std, own)
            + predict_dataset(model, meta.mean, meta.std, type(ds)(own.images.flip(-1), ds.targets, ds.label_set))) / 2
    np.testing.assert_allclose(teacher_probs(str(teacher), ds, FERPLUS, size, chans), want, atol=1e-5)


def test_distill_targets_on_hard_labels_and_unlabelled_rows(tmp_path):
    plain = build_data(load_config(recipe(tmp_path, **{"data.labels": "fer2013"}))).train
    ds = plain.subset(np.arange(4))
    ds.targets[3] = -1  # unlabelled: learns from the teacher alone
    t = np.full((4, 7), 1 / 7, np.float32)
    out = distill_targets(ds, t, 0.25)
    assert ds.soft is None  # the input dataset is left as it was
    for i in range(3):
        want = 0.25 / 7 + 0.75 * np.eye(7)[ds.targets[i]]
        np.testing.assert_allclose(out.soft[i], want, atol=1e-6)
    np.testing.assert_allclose(out.soft[3], t[3])
    with pytest.raises(ConfigError, match="teacher_weight"):
        distill_targets(ds, t, 1.5)


def test_temperature_flattens_and_one_is_identity():
    p = torch.softmax(torch.tensor([[3.0, 1.0, 0.0], [0.0, 0.0, 5.0]]), -1).numpy()
    assert soften(p, 1.0) is p
    hot = soften(p, 4.0)
    np.testing.assert_allclose(hot.sum(1), 1, atol=1e-6)
    entropy = lambda q: -(q * np.log(q)).sum(1)  # noqa: E731
    assert (entropy(hot) > entropy(p)).all() and (hot.argmax(1) == p.argmax(1)).all()
    np.testing.assert_allclose(hot, torch.softmax(torch.log(torch.from_numpy(p)) / 4, -1).numpy(), atol=1e-6)
    with pytest.raises(ConfigError):
        soften(p, 0.0)
