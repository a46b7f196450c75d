"""Face geometry shared by the detectors, the tracker, alignment and the labelled-box readers.

:mod:`.boxes` (box overlap), :mod:`.assign` (the Hungarian assignment that matches faces),
:mod:`.align` (similarity transforms from five landmarks onto a template, aligned and box crops).
Boxes are float ``x0, y0, x1, y1`` pixels of the frame they are in; landmarks ``(N, 5, 2)`` pixels.

The bottom of the face rooms: NumPy and OpenCV only; it may import :mod:`wildfer.errors` and
nothing else of wildfer. ``detectors``, ``pipeline``, ``data`` and ``eval`` import it.
"""
