"""Packed datasets: images decoded and resized once, stored as memory-mapped uint8 shards.

``wildfer pack`` (:func:`pack`, :func:`pack_dataset`) turns any frame dataset (Aff-Wild2
frames, an image folder, a FER2013 split) into a folder that :class:`PackedDataset` reads by
slicing memory maps: no JPEG decoding or resizing at training time, and a clip of consecutive
frames is one contiguous read. Neither packing nor reading holds the images in RAM; only the
per-sample arrays below are loaded (about 24 bytes per sample).

On disk, format version 1 (``N`` samples, side ``S`` pixels, ``C`` channels, ``K`` samples per
shard, ``L`` classes)::

    pack/manifest.json       UTF-8 JSON, written last (atomically): a folder without it is an
                             interrupted pack and is refused. Keys:
        format "wildfer-pack", version 1, n N, size S, in_chans C (1 grey, 3 RGB), shard_size K,
        shards [{"file": "images-00000.npy", "n": n_i, "bytes": file size in bytes}, ...],
        label_set (key in wildfer.labels), label_names [L names], arrays [per-sample files present],
        source (what was packed), reports [the source readers' ReadReport dicts: what was skipped]
    pack/images-00000.npy    uint8 (n_i, C, S, S), numpy .npy (format 1.0, C order); pixel values
                             0..255 before normalisation. Sample j is row j % K of shard j // K;
                             every shard but the last holds exactly K samples.
    pack/targets.npy         int64 (N,): class index in label_set, -1 = unlabelled
    pack/soft.npy            float32 (N, L): label distributions          (FER+ / mixed labels)
    pack/frames.npy          int64 (N,): 1-based frame numbers            (Aff-Wild2)
    pack/videos.npy          int32 (N,): index into video_names.npy       (Aff-Wild2)
    pack/video_names.npy     str (V,): annotation file stems (``_left``/``_right`` distinct), sorted
    pack/groups.npy          int32 (N,): index into group_names.npy       (Aff-Wild2, image folders)
    pack/group_names.npy     str (G,): videos/subjects for leak-free splits, sorted

Samples keep the source dataset's order; Aff-Wild2 readers order by video, then frame, so each
video is one contiguous run of rows. A pack is tied to one input size and colour mode: a model
with another one is a :class:`~wildfer.errors.ConfigError` (repack), never a silent resize.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from numpy.lib.format import open_memmap, read_array_header_1_0, read_array_header_2_0, read_magic

from ..errors import ConfigError, DataError
from ..labels import LabelMapError, LabelSet, get_label_set
from .report import ReadReport

FORMAT, VERSION = "wildfer-pack", 1
MANIFEST = "manifest.json"
SHARD_BYTES = 1 << 30  # default shard bound: few enough files to keep open, small enough to copy around
# per-sample files: name -> dtype on disk (the .npy header carries the shape)
ARRAYS = {"targets": np.int64, "soft": np.float32, "frames": np.int64, "videos": np.int32, "groups": np.int32}
_PACK_FILE = re.compile(r"manifest\.json(\.tmp)?|images-\d{5,}\.npy|(targets|soft|frames|videos|video_names|groups|"
                        r"group_names)\.npy")


def shard_name(i: int) -> str:
    return f"images-{i:05d}.npy"


@dataclass
class PackInfo:
    """What :func:`pack_dataset` wrote: ``n`` images of ``size`` x ``size`` x ``in_chans`` in
    ``shards`` files, ``bytes`` on disk in all, and the source readers' reports."""

    out: Path
    n: int
    size: int
    in_chans: int
    shards: int
    bytes: int
    reports: list[ReadReport] = field(default_factory=list)

    def summary(self) -> str:
        mode = "grey" if self.in_chans == 1 else "RGB"
        skipped: dict[str, int] = {}
        for r in self.reports:
            for reason, k in r.dropped.items():
                skipped[reason] = skipped.get(reason, 0) + k
        skip = ", ".join(f"{k} {reason}" for reason, k in sorted(skipped.items())) or "nothing"
        return (f"{self.out}: {self.n} images {self.size}x{self.size} {mode} in {self.shards} shard(s), "
                f"{self.bytes / 1e6:.1f} MB; skipped: {skip}")


def _prepare_out(out: Path, overwrite: bool) -> None:
    """An empty folder for a new pack; an old pack there is removed only when ``overwrite``."""
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: exists and is not a folder")
    entries = sorted(out.iterdir()) if out.exists() else []
    if entries:
        if not overwrite:
            raise DataError(f"{out}: already exists and is not empty; choose a new folder or pass --overwrite")
        foreign = [p.name for p in entries if not (p.is_file() and _PACK_FILE.fullmatch(p.name))]
        if foreign:
            raise DataError(f"{out}: holds entries that are not part of a pack ({', '.join(foreign[:3])}); "
                            "refusing to overwrite it")
        # The manifest goes first: a half-rewritten pack must never look complete.
        (out / MANIFEST).unlink(missing_ok=True)
        for p in entries:
            p.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


def _codes(values) -> tuple[np.ndarray, np.ndarray]:
    names, codes = np.unique(np.asarray(values).astype(str), return_inverse=True)
    return names, codes.astype(np.int32).reshape(-1)


class _PackReader(torch.utils.data.Dataset):
    """Index batch -> ``(uint8 (B, C, H, W), indices, [(index, error)])``. An image that cannot be
    decoded becomes zeros and is reported: one bad JPEG must not abort hours of packing."""

    def __init__(self, ds, shape: tuple[int, int, int]):
        self.ds, self.shape = ds, shape

    def __getitem__(self, idx: list[int]):
        try:
            return self.ds.load(idx), idx, []
        except DataError:
            x, bad = torch.zeros((len(idx), *self.shape), dtype=torch.uint8), []
            for j, i in enumerate(idx):
                try:
                    x[j] = self.ds.load([i])[0]
                except DataError as e:
                    bad.append((i, str(e)))
            return x, idx, bad


def _image_shape(ds) -> tuple[int, int, int]:
    """``(C, H, W)`` of the dataset's images, without decoding one when the dataset knows it."""
    if getattr(ds, "size", None) and getattr(ds, "in_chans", None):
        return int(ds.in_chans), int(ds.size), int(ds.size)
    return tuple(int(v) for v in ds.load([0]).shape[1:])


def pack_dataset(ds, out_dir: str | Path, shard_size: int | None = None, *, source: str = "",
                 reports: Sequence[ReadReport] = (), workers: int = 0, chunk: int = 256,
                 overwrite: bool = False, progress: bool = False) -> PackInfo:
    """Write ``ds`` (any dataset with ``targets``, ``label_set`` and ``load``; optional ``soft``,
    ``groups``, ``frames``, ``videos``) as a pack in ``out_dir`` (layout: module docstring).

    ``shard_size``: samples per shard (default: as many as fit in 1 GiB). Images are read in
    batches of ``chunk`` by ``workers`` processes and written straight into the memory-mapped
    shard, so memory stays bounded whatever the dataset size. An image that cannot be decoded is
    stored as zeros with target -1 and counted in the returned report. ``reports``: the source
    readers' :class:`ReadReport` s, kept in the manifest.
    """
    from ..progress import Bar

    out = Path(out_dir)
    n = len(ds)
    if n == 0:
        raise DataError(f"{source or out}: no images to pack")
    if shard_size is not None and shard_size < 1:
        raise ConfigError(f"shard size must be >= 1, got {shard_size}")
    c, h, w = _image_shape(ds)
    if h != w or c not in (1, 3):
        raise DataError(f"{source or out}: expected square images with 1 or 3 channels, got {(c, h, w)}")
    k = shard_size or max(1, SHARD_BYTES // (c * h * w))
    _prepare_out(out, overwrite)

    # Batches never straddle two shards, so each one lands in the memory map that is open.
    batches = [list(range(s, min(s + chunk, n, (s // k + 1) * k))) for s0 in range(0, n, k)
               for s in range(s0, min(s0 + k, n), chunk)]
    reader = _PackReader(ds, (c, h, w))
    it = (reader[b] for b in batches) if workers == 0 else torch.utils.data.DataLoader(
        reader, sampler=batches, batch_size=None, num_workers=workers)
    shards: list[dict] = []
    bad: list[tuple[int, str]] = []
    mm, cur = None, -1
    with Bar(total=n, unit="images", desc=f"pack {out.name}", enabled=progress) as bar:
        for x, idx, failed in it:
            first = int(idx[0])
            if first // k != cur:
                if mm is not None:
                    mm.flush()
                cur = first // k
                mm = open_memmap(out / shard_name(cur), mode="w+", dtype=np.uint8, shape=(min(k, n - cur * k), c, h, w))
                shards.append({"file": shard_name(cur), "n": int(mm.shape[0])})
            if x.dtype != torch.uint8 or tuple(x.shape[1:]) != (c, h, w):
                raise DataError(f"{source or out}: sample {first} is {x.dtype} {tuple(x.shape[1:])}, not uint8 {(c, h, w)}")
            mm[first - cur * k : first - cur * k + len(x)] = x.numpy()
            bad += [(int(i), str(e)) for i, e in failed]
            bar.update(len(x))
    mm.flush()
    del mm

    arrays = {"targets": np.array(ds.targets, dtype=np.int64)}
    soft = getattr(ds, "soft", None)
    if soft is not None:
        arrays["soft"] = np.array(soft, dtype=np.float32)
    rep = ReadReport(f"{out}: packed from {source or 'a dataset'}")
    rep.kept = n - len(bad)
    for i, err in bad:
        rep.drop("unreadable image (stored blank, target -1)", err)
        arrays["targets"][i] = -1
        if soft is not None:
            arrays["soft"][i] = 0.0
    frames = getattr(ds, "frames", None)
    if frames is not None:
        arrays["frames"] = np.asarray(frames, dtype=np.int64)
    for key in ("videos", "groups"):
        values = getattr(ds, key, None)
        if values is not None:
            names, arrays[key] = _codes(values)
            np.save(out / f"{key[:-1]}_names.npy", names, allow_pickle=False)
    for key, a in arrays.items():
        np.save(out / f"{key}.npy", a, allow_pickle=False)
    for s in shards:
        s["bytes"] = (out / s["file"]).stat().st_size
    reports = [*reports, rep]
    manifest = {
        "format": FORMAT, "version": VERSION, "n": n, "size": h, "in_chans": c, "shard_size": k,
        "shards": shards, "label_set": ds.label_set.key, "label_names": list(ds.label_set.names),
        "arrays": sorted(arrays), "source": source, "reports": [r.as_dict() for r in reports],
    }
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    os.replace(tmp, out / MANIFEST)  # last, and atomic: its presence means every other file is complete
    total = sum(p.stat().st_size for p in out.iterdir())
    return PackInfo(out, n, h, c, len(shards), total, reports)


def _npy_header(path: Path) -> tuple[tuple, np.dtype, bool, int]:
    """``(shape, dtype, fortran_order, data offset)`` of a .npy file, reading only its header."""
    with open(path, "rb") as f:
        major, _ = read_magic(f)
        read = read_array_header_1_0 if major == 1 else read_array_header_2_0
        shape, fortran, dtype = read(f)
        return shape, dtype, fortran, f.tell()


def _read_manifest(root: Path) -> dict:
    path = root / MANIFEST
    if not root.is_dir():
        raise DataError(f"{root}: pack folder not found")
    if not path.is_file():
        raise DataError(f"{path}: not found; not a wildfer pack, or an interrupted one (the manifest is written "
                        "last): run wildfer pack again")
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not a readable manifest ({e.__class__.__name__}: {e})") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise DataError(f"{path}: not a wildfer pack manifest (format is not {FORMAT!r})")
    if m.get("version") != VERSION:
        raise DataError(f"{path}: pack format version {m.get('version')!r}; this wildfer reads version {VERSION}: "
                        "repack with wildfer pack")
    try:
        n, size, c, k = (int(m[x]) for x in ("n", "size", "in_chans", "shard_size"))
        shards = [(str(s["file"]), int(s["n"]), int(s["bytes"])) for s in m["shards"]]
        names, arrays = list(m["label_names"]), list(m["arrays"])
        key = str(m["label_set"])
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"{path}: manifest field missing or malformed ({e.__class__.__name__}: {e})") from None
    counts = [s[1] for s in shards]
    if n < 1 or k < 1 or c not in (1, 3) or size < 1 or sum(counts) != n or any(x != k for x in counts[:-1]) \
            or not 0 < counts[-1] <= k or "targets" not in arrays or not set(arrays) <= set(ARRAYS):
        raise DataError(f"{path}: inconsistent manifest (n={n}, shard_size={k}, shards of {counts[:3]}...)")
    m.update(n=n, size=size, in_chans=c, shard_size=k, shards=shards, label_names=names, arrays=arrays, label_set=key)
    return m


def _check_shard(path: Path, rows: int, c: int, size: int, nbytes: int) -> None:
    """A shard must hold exactly its rows: a truncated file would fault (SIGBUS) when read later."""
    if not path.is_file():
        raise DataError(f"{path}: shard missing from the pack")
    try:
        shape, dtype, fortran, offset = _npy_header(path)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a .npy shard ({e})") from None
    if shape != (rows, c, size, size) or dtype != np.uint8 or fortran:
        raise DataError(f"{path}: shard holds {dtype} {shape}, the manifest says uint8 {(rows, c, size, size)}")
    real = path.stat().st_size
    if real != offset + rows * c * size * size or real != nbytes:
        raise DataError(f"{path}: {real} bytes, expected {offset + rows * c * size * size} (truncated or "
                        "rewritten shard): run wildfer pack again")


def _load_array(path: Path, dtype, shape: tuple) -> np.ndarray:
    """A per-sample .npy file, checked against ``dtype`` and ``shape`` (``None`` = any length; a
    ``str`` dtype accepts any width)."""
    try:
        a = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"{path}: cannot read ({e.__class__.__name__}: {e})") from None
    kind_ok = a.dtype.kind == "U" if dtype is str else a.dtype == dtype
    if not kind_ok or a.ndim != len(shape) or any(w is not None and w != v for w, v in zip(shape, a.shape)):
        want = "str" if dtype is str else np.dtype(dtype).name
        raise DataError(f"{path}: holds {a.dtype} {a.shape}, expected {want} {tuple('*' if w is None else w for w in shape)}")
    return a


@dataclass(eq=False)
class PackedDataset:
    """A pack (layout: module docstring) read through memory maps, with :class:`FileDataset`'s
    interface: ``targets``, ``soft``, ``groups``, ``frames``, ``videos``, ``label_set``,
    ``load(idx) -> uint8 (B, C, size, size)``, ``subset(idx)``, ``len``.

    ``rows``: pack row of each sample of this view (``None``: all rows in pack order); ``groups``
    and ``videos`` are decoded from int32 codes on access, so a 2.8 M-frame pack keeps ~24 bytes
    per sample in RAM. Open packs with :meth:`open`.
    """

    root: Path
    shards: tuple[Path, ...]
    shard_size: int
    targets: np.ndarray
    label_set: LabelSet
    size: int
    in_chans: int
    soft: np.ndarray | None = None
    frames: np.ndarray | None = None
    group_codes: np.ndarray | None = None
    group_names: np.ndarray | None = None
    video_codes: np.ndarray | None = None
    video_names: np.ndarray | None = None
    rows: np.ndarray | None = None
    manifest: dict = field(default_factory=dict, repr=False)
    _maps: dict = field(default_factory=dict, repr=False)  # shard number -> memory map, opened on first use

    @classmethod
    def open(cls, root: str | Path) -> "PackedDataset":
        """Open and check a pack: manifest, every shard's header and byte size, per-sample arrays.

        Raises :class:`DataError` naming the file for a missing, interrupted, truncated or
        inconsistent pack.
        """
        root = Path(root)
        m = _read_manifest(root)
        n, c, s = m["n"], m["in_chans"], m["size"]
        for name, rows, nbytes in m["shards"]:
            _check_shard(root / name, rows, c, s, nbytes)
        try:
            label_set = get_label_set(m["label_set"])
        except LabelMapError as e:
            raise DataError(f"{root / MANIFEST}: {e}") from None
        if list(label_set.names) != m["label_names"]:
            raise DataError(f"{root / MANIFEST}: label names {m['label_names']} differ from label set {label_set.key!r}")
        a = {k: _load_array(root / f"{k}.npy", ARRAYS[k], (n, len(label_set)) if k == "soft" else (n,))
             for k in m["arrays"]}
        names = {}
        for k in ("groups", "videos"):
            if k in a:
                names[k] = _load_array(root / f"{k[:-1]}_names.npy", str, (None,))
                if a[k].min() < 0 or a[k].max() >= len(names[k]):
                    raise DataError(f"{root / f'{k}.npy'}: codes out of range for {k[:-1]}_names.npy")
        t = a["targets"]
        if t.min() < -1 or t.max() >= len(label_set):
            raise DataError(f"{root / 'targets.npy'}: labels out of range for {label_set.key} "
                            f"(-1 or 0..{len(label_set) - 1})")
        return cls(root, tuple(root / f for f, _, _ in m["shards"]), m["shard_size"], t, label_set, s, c,
                   soft=a.get("soft"), frames=a.get("frames"), group_codes=a.get("groups"),
                   group_names=names.get("groups"), video_codes=a.get("videos"), video_names=names.get("videos"),
                   manifest=m)

    @property
    def groups(self) -> np.ndarray | None:
        return None if self.group_codes is None else self.group_names[self.group_codes]

    @property
    def videos(self) -> np.ndarray | None:
        return None if self.video_codes is None else self.video_names[self.video_codes]

    def __len__(self) -> int:
        return len(self.targets)

    def __repr__(self) -> str:
        return (f"PackedDataset({str(self.root)!r}, n={len(self)}, {self.size}x{self.size}x{self.in_chans}, "
                f"{len(self.shards)} shard(s), {self.label_set.key})")

    def __getstate__(self) -> dict:
        # DataLoader workers started by spawn get the dataset pickled: send paths, not mapped pages.
        return {**self.__dict__, "_maps": {}}

    def _shard(self, i: int) -> np.ndarray:
        mm = self._maps.get(i)
        if mm is None:
            try:
                mm = self._maps[i] = np.load(self.shards[i], mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as e:
                raise DataError(f"{self.shards[i]}: cannot map shard ({e})") from None
        return mm

    def load(self, idx: Sequence[int]) -> torch.Tensor:
        """uint8 ``(B, C, size, size)`` of samples ``idx`` (copied out of the memory maps)."""
        rows = np.asarray(idx, dtype=np.int64).reshape(-1)
        if self.rows is not None:
            rows = self.rows[rows]
        out = np.empty((len(rows), self.in_chans, self.size, self.size), dtype=np.uint8)
        if len(rows) == 0:
            return torch.from_numpy(out)
        shard, local = np.divmod(rows, self.shard_size)
        if shard[0] == shard[-1] and local[-1] - local[0] == len(rows) - 1 and (np.diff(local) == 1).all():
            out[:] = self._shard(int(shard[0]))[local[0] : local[-1] + 1]  # a run (a clip): one contiguous copy
        else:
            for s in np.unique(shard):
                sel = np.flatnonzero(shard == s)
                out[sel] = self._shard(int(s))[local[sel]]
        return torch.from_numpy(out)

    def subset(self, idx: np.ndarray) -> "PackedDataset":
        pick = lambda a: None if a is None else a[idx]  # noqa: E731
        rows = np.arange(len(self), dtype=np.int64) if self.rows is None else self.rows
        return replace(self, targets=self.targets[idx], soft=pick(self.soft), frames=pick(self.frames),
                       group_codes=pick(self.group_codes), video_codes=pick(self.video_codes), rows=rows[idx])

    def check_input(self, size: int, in_chans: int, key: str = "data.root") -> None:
        """Raise :class:`ConfigError` unless the pack holds images at this model input size and mode."""
        if (self.size, self.in_chans) != (size, in_chans):
            raise ConfigError(
                f"{key}={self.root}: the pack holds {self.size}x{self.size} {self.in_chans}-channel images but the model "
                f"takes {size}x{size} {in_chans}-channel (model.input_size, model.in_chans); repack with "
                f"wildfer pack --size {size} --chans {in_chans}")

    def report(self) -> ReadReport:
        """One line for the run log: this pack's size and what its source readers skipped."""
        m = self.manifest
        rep = ReadReport(f"{self.root} (pack of {m.get('source') or 'unknown source'})")
        rep.kept = len(self)
        for r in m.get("reports", []):
            rep.dropped.update(r.get("dropped", {}))
        return rep


def source_dataset(dataset: str, root: str | Path, split: str = "Training", labels: str = "fer2013",
                   frames: str | Path | None = None, size: int = 48, in_chans: int = 1):
    """``(dataset, reports, source)`` of a frame dataset to pack, at ``size`` and ``in_chans``.

    ``fer2013``: split ``split`` of ``root``'s csv with ``labels`` (fer2013 | ferplus | mixed);
    ``affwild2``: annotation folder ``root`` (or an ``EXPR_Set``-style parent: its training
    folder) with the ``frames`` folder; ``folder``: ``root/<class>/*``.
    """
    if dataset == "fer2013":
        from .views import fer_views
        from .fer2013 import read_fer2013

        full = read_fer2013(root)
        ds, _ = fer_views(full, split, root, labels, size, in_chans)
        return ds, [full.report], f"fer2013 {full.report.source} {split} ({labels} labels)"
    if dataset == "affwild2":
        from .affwild2 import read_affwild2
        from .splits import resolve_annotation_dir

        if frames is None:
            raise ConfigError("--dataset affwild2 needs --frames (the cropped_aligned folder)")
        ann = resolve_annotation_dir(root)
        ds, rep = read_affwild2(ann, frames, in_chans=in_chans, size=size)
        return ds, [rep], f"affwild2 {ann} + {frames}"
    if dataset == "folder":
        from .folder import read_image_folder

        ds, rep = read_image_folder(root, in_chans=in_chans, size=size)
        return ds, [rep], f"folder {root}"
    raise ConfigError(f"--dataset must be fer2013, affwild2 or folder, not {dataset!r}")


def pack(dataset: str, root: str | Path, out: str | Path, split: str = "Training", labels: str = "fer2013",
         frames: str | Path | None = None, size: int = 48, in_chans: int = 1, shard_size: int | None = None,
         workers: int = 0, overwrite: bool = False, progress: bool = False) -> PackInfo:
    """``wildfer pack``: read a dataset (:func:`source_dataset`) and write it as a pack in ``out``."""
    if size < 1 or in_chans not in (1, 3):
        raise ConfigError(f"--size must be >= 1 and --chans 1 or 3, got {size} and {in_chans}")
    ds, reports, source = source_dataset(dataset, root, split, labels, frames, size, in_chans)
    return pack_dataset(ds, out, shard_size, source=source, reports=reports, workers=workers,
                        overwrite=overwrite, progress=progress)
