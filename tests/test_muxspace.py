"""The muxspace/facial_expressions reader and joining extra training sets (data.extra), on a layout the test writes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pipeline_fixtures import portrait
from wildfer.config import ExtraData
from wildfer.errors import DataError


def _muxspace(tmp_path):
    root = tmp_path / "mux"
    (root / "images").mkdir(parents=True)
    (root / "data").mkdir()
    face = portrait(0.2)
    for name in ("Colin_Powell_0001.jpg", "Colin_Powell_0002.jpg", "FaridaJalal_7.jpg", "Broken_0001.jpg"):
        Image.fromarray(face).save(root / "images" / name)
    (root / "images" / "Broken_0001.jpg").write_bytes(b"not a jpeg")
    (root / "data" / "legend.csv").write_text(
        "user.id,image,emotion\n"
        "1,Colin_Powell_0001.jpg,neutral\n"
        "1,Colin_Powell_0002.jpg,HAPPINESS\n"
        "1,Colin_Powell_0002.jpg,sadness\n"  # repeats an image with another label: first kept, counted
        "1,FaridaJalal_7.jpg,contempt\n"
        "1,Nobody_0001.jpg,anger\n"  # missing image
        "1,Broken_0001.jpg,anger\n"  # unreadable
        "1,Colin_Powell_0001.jpg,bored\n"  # unknown label
    )
    return root


def test_reader_labels_groups_and_counted_defects(tmp_path):
    from wildfer.data.muxspace import read_muxspace

    ds, rep = read_muxspace(_muxspace(tmp_path), in_chans=1, size=32)
    assert ds.label_set.key == "ferplus"
    assert [ds.label_set.names[t] for t in ds.targets] == ["neutral", "happiness", "contempt"]
    assert ds.groups.tolist() == ["Colin_Powell", "Colin_Powell", "FaridaJalal"]
    assert rep.kept == 3
    assert rep.dropped == {"unknown expression name": 1, "image file missing": 1, "unreadable image": 1}
    assert rep.counted == {"rows repeating an image with another label (first kept)": 1}
    assert ds.load([0]).shape == (1, 1, 32, 32)
    with pytest.raises(DataError, match="legend.csv"):
        read_muxspace(tmp_path)


def test_join_extra_maps_labels_smooths_and_repeats(tmp_path):
    from wildfer.data.datasets import ArrayDataset
    from wildfer.data.extra import join_extra
    from wildfer.labels import FER2013, FERPLUS

    root = _muxspace(tmp_path)
    imgs = np.zeros((4, 32, 32), np.uint8)
    main = ArrayDataset.from_numpy(imgs, [0, 1, 2, 3], FERPLUS, 32, 1, soft=np.eye(8, dtype=np.float32)[[0, 1, 2, 3]])
    joined, reports = join_extra(main, (ExtraData("muxspace", str(root), smoothing=0.2, repeat=2),), 32, 1, seed=0)
    assert len(joined) == 4 + 2 * 3
    assert joined.targets[4:7].tolist() == [0, 1, 7]  # neutral, happiness, contempt in FER+ order
    np.testing.assert_allclose(joined.soft[4], [0.8 + 0.025] + [0.025] * 7)
    assert joined.images[4:].float().mean() > 0  # the real photos, decoded once
    # FER2013 labels have no contempt: that row is dropped and counted
    main7 = ArrayDataset.from_numpy(imgs, [0, 1, 2, 3], FER2013, 32, 1)
    joined7, reports7 = join_extra(main7, (ExtraData("muxspace", str(root)),), 32, 1, seed=0)
    assert len(joined7) == 6 and joined7.soft is None
    assert [FER2013.names[t] for t in joined7.targets[4:]] == ["neutral", "happy"]
    assert reports7[0].dropped["classes absent from fer2013"] == 1
