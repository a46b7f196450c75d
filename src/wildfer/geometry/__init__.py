"""Face geometry shared by the detectors, the tracker, alignment and the labelled-box readers.

:mod:`.boxes` (box overlap), :mod:`.assign` (the Hungarian assignment that matches faces),
:mod:`.templates` (where five landmarks sit in a crop: ``fer``, ``abaw``, a margin; the similarity
transform between point sets), :mod:`.align` (aligned and box crops, crop datasets moved between
templates).
Boxes are float ``x0, y0, x1, y1`` pixels of the frame they are in; landmarks ``(N, 5, 2)`` pixels.

The bottom of the face rooms: NumPy and OpenCV only; it may import :mod:`wildfer.errors` and
nothing else of wildfer. ``detectors``, ``pipeline``, ``data``, ``eval`` and ``models`` (an ensemble member's crop made
from another's) import it.
"""
