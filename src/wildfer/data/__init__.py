"""Training and evaluation data: readers (FER2013 and FER+, Aff-Wild2, image folders, labelled
boxes in photos, muxspace), datasets and packs, clips, splits, augmentation and what each dataset
is licensed under (:mod:`.lineage`).

It may import ``detectors`` and ``geometry`` (the boxes reader crops faces as ``predict`` finds
them) and the package's low modules (``config``, ``labels``, ``errors``); never ``models``,
``train``, ``pipeline`` or what stands above them.
"""
