"""Which data a model was trained on, and what each set's licence allows: the ``datasets`` list a
checkpoint's metadata carries (and the README's table of the shipped models repeats).

Built from a run's resolved config (a plain dict: the ``config`` of :class:`~wildfer.models.meta.WeightsMeta`),
so it also describes checkpoints trained before this list existed. A labelled-boxes or image folder
says what it is in the recipe (``data.extra: [{dataset: boxes, root: ..., lineage: "..."}]``);
without that, its entry says the licence was not stated.
"""

from __future__ import annotations

FER2013 = {"dataset": "FER2013 (Goodfellow et al., ICML 2013 challenge; Kaggle)",
           "licence": "research use; the images may not be redistributed"}
FERPLUS = {"dataset": "FER+ labels for FER2013 (github.com/microsoft/FERPlus)", "licence": "MIT"}
MUXSPACE = {"dataset": "muxspace/facial_expressions (github.com/muxspace/facial_expressions)", "licence": "Apache-2.0"}


def training_data(config: dict) -> list[dict]:
    """``[{"dataset", "licence", "root"}, ...]`` for the main training set and every ``data.extra``,
    after the data a pretrained backbone's weights were learnt from, where the registry names it
    (``opencv-zoo-fer``: RAF-DB)."""
    data = config.get("data", {}) if isinstance(config, dict) else {}
    out: list[dict] = []
    backbone = (config.get("model") or {}).get("backbone") if isinstance(config, dict) else None
    if backbone:
        from ..models.pretrained import BACKBONES

        cfg = BACKBONES.get(backbone)
        if cfg is not None and cfg.lineage_data:
            name, _, licence = cfg.lineage_data.partition(":")
            out.append({"dataset": f"{name.strip()}, through the pretrained {cfg.name} ({cfg.upstream})",
                        "licence": licence.strip(), "root": cfg.package})
    kind = data.get("dataset")
    if kind == "fer2013":
        out.append({**FER2013, "root": data.get("root")})
        if data.get("labels") in ("ferplus", "mixed"):
            out.append({**FERPLUS, "root": data.get("root")})
    elif kind:
        out.append(_entry(kind, data.get("root"), data.get("lineage")))
    for e in data.get("extra") or []:
        out.append(_entry(e.get("dataset"), e.get("root"), e.get("lineage")))
    return out


def _entry(kind: str | None, root: str | None, stated: str | None) -> dict:
    if kind == "muxspace":
        return {**MUXSPACE, "root": root}
    if stated:
        name, _, licence = stated.partition(":")
        return {"dataset": name.strip(), "licence": licence.strip() or "not stated", "root": root}
    return {"dataset": f"{kind} folder {root}", "licence": "not stated in the recipe", "root": root}


def merge(*lists: list[dict]) -> list[dict]:
    """The union of several models' ``datasets`` (an ensemble's), in first-seen order, one entry per set."""
    seen: dict[str, dict] = {}
    for entries in lists:
        for e in entries:
            seen.setdefault(e["dataset"], e)
    return list(seen.values())


def with_stated(entries: list[dict], stated: dict[str, str]) -> list[dict]:
    """``entries`` with the name and licence of each folder in ``stated`` (``{root: "NAME:
    LICENCE"}``) filled in where its recipe did not state them (a checkpoint trained before
    ``data.extra[].lineage`` existed)."""
    out = []
    for e in entries:
        if e.get("root") in stated and e.get("licence", "").startswith("not stated"):
            name, _, licence = stated[e["root"]].partition(":")
            e = {**e, "dataset": name.strip(), "licence": licence.strip() or "not stated"}
        out.append(e)
    return out
