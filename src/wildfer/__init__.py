"""wildfer: facial expressions of people in in-the-wild photos and video."""

__version__ = "0.1.0"
