"""Evaluation: metrics (pure functions), predictions of a model on a dataset, reports, and faces
in photos end to end (:mod:`.boxes`: ``predict``'s detector and classifier on labelled boxes).

It may import ``models``, ``data``, ``detectors``, ``geometry``, ``pipeline`` (the classifier) and
the package's low modules; never ``train``, ``runners``, ``outputs`` or ``serve``.
"""
