"""What a ``predict`` run writes into ``--out``, as functions of rows and source logs.

:mod:`.results` (``predictions.csv``, each source's log and JSON summary), :mod:`.abaw` (the ABAW
challenge files), :mod:`.render` (timeline plots, annotated videos and photos) with :mod:`.audio`
(the sound copied into an annotated video), :mod:`.report` (``report.html``), :mod:`.outdir` (which
files in ``--out`` are wildfer's), :mod:`.resume` (done markers and part files, for ``--resume``
and ``--workers``), :mod:`.outcome` (what a run did, per source and in all) and :mod:`.console`
(what ``wildfer predict`` prints).

It may import ``pipeline`` (its records, sources and options) and the package's low modules
(``errors``, ``labels``, ``version``); never ``runners``: a runner calls these, not the other way.
"""
