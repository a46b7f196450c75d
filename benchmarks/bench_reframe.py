"""What deriving a 48 px member's crop from a 112 px ArcFace crop inside an ensemble costs
(``wildfer.models.reframe``), on real in-the-wild faces.

The faces of ``expw_dev`` are aligned as ``predict`` aligns them (its photo detector's landmarks)
twice from the same landmarks: at the model's own template (``fer``, 48 px grey: what it was
trained on) and at the ArcFace ``abaw`` template, 112 px RGB, from which
:class:`~wildfer.models.reframe.Reframe` makes the model's crop. Prints both accuracies on the
faces the detector found, their arg-max agreement and the crops' mean absolute pixel difference.

    .venv/bin/python benchmarks/bench_reframe.py [--models fast runs/x/best.safetensors] [--root ../shared/data/expw_dev]
"""

from __future__ import annotations

import argparse

import torch

from wildfer.data.boxes import box_faces
from wildfer.eval.predict import predictions_in
from wildfer.models.reframe import Reframe
from wildfer.models.weights import load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["fast"])
    ap.add_argument("--root", default="../shared/data/expw_dev")
    args = ap.parse_args()
    torch.set_num_threads(2)
    wide, _, found = box_faces(args.root, 3, 112, progress=False, template="abaw")
    x_wide = wide.images[torch.from_numpy(found)].float() / 255
    for name in args.models:
        model, meta = load_model(name)
        own, _, _ = box_faces(args.root, meta.in_chans, meta.input_size, progress=False, template=meta.template,
                              margin=meta.margin)
        y = own.targets[found]
        x_own = own.images[torch.from_numpy(found)].float() / 255
        mean = torch.tensor(meta.mean).view(1, -1, 1, 1)
        std = torch.tensor(meta.std).view(1, -1, 1, 1)
        dst = {"size": meta.input_size, "in_chans": meta.in_chans, "template": meta.template, "margin": meta.margin,
               "mean": meta.mean, "std": meta.std}
        src = {"size": 112, "in_chans": 3, "template": "abaw", "margin": 0.0}
        ref = Reframe(model, src, dst).eval()
        with torch.inference_mode():
            a = torch.cat([model((x_own[i:i + 256] - mean) / std) for i in range(0, len(x_own), 256)]).numpy()
            b = torch.cat([ref(x_wide[i:i + 256]) for i in range(0, len(x_wide), 256)]).numpy()
            diff = float((ref.crop(x_wide[:256]) - x_own[:256]).abs().mean() * 255)
        a, b = predictions_in(a, meta.label_set, own.label_set), predictions_in(b, meta.label_set, own.label_set)
        print(f"{name}: {len(y)} detected faces; accuracy on its own crops {(a == y).mean():.3f}, on crops made "
              f"from the 112 px abaw crop {(b == y).mean():.3f}; arg-max agreement {(a == b).mean():.3f}; "
              f"mean |pixel difference| {diff:.1f} / 255")


if __name__ == "__main__":
    main()
