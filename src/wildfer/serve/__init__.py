"""``wildfer serve``: the Python API over HTTP, with a page, and video jobs (the ``serve`` extra).

:mod:`.config` (settings and the safety rules), :mod:`.media` (what an upload is, by its bytes,
and its limits), :mod:`.jobs` (video jobs on disk and the processes that run them),
:mod:`.runner` (one job's process: ``wildfer predict`` on it), :mod:`.app` (the routes) and
``page.html`` (the page at ``/``). Photos go through :class:`wildfer.Recognizer` (the faces
:func:`wildfer.analyze` gives), videos through :func:`wildfer.runners.predict`. The top of the
house: it may import the API, ``runners``, ``outputs``, ``pipeline`` and what they stand on.
"""
