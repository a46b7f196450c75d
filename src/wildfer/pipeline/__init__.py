"""One source's frames: decode -> detect (or follow) -> track -> align -> classify -> smooth -> rows.

:mod:`.frames` holds the loop every caller runs (:func:`~.frames.iter_frames`: frames in, one
:class:`~.frames.FrameFaces` per frame out) and :mod:`.load` the models it runs with. Around it:
:mod:`.sources` (what the inputs name, and their frames decoded one at a time), :mod:`.live` (a
live stream, read as it comes), :mod:`.cuts` (camera cuts), :mod:`.track` (face ids over time),
:mod:`.classify` (the expression model on aligned crops), :mod:`.smooth` (each person's
probabilities over time), :mod:`.options` (``predict``'s options) and :mod:`.demo` (the demo clip).

It writes no file and knows nothing of how a run is spread. It may import ``detectors``,
``geometry``, ``models``, ``data`` (image decoding) and the package's low modules (``errors``,
``runtime``, ``plugins``); never ``outputs``, ``runners``, ``eval``, ``train`` or ``serve``.
"""
