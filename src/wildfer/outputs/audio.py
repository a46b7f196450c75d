"""The sound of a video, carried into its annotated copy (``predict --annotate``).

The annotated MP4 re-encodes the pictures only; its audio track is the source's first audio
stream, copied packet by packet when MP4 can hold the codec (``MP4_AUDIO``: AAC, MP3, ...), else
decoded and re-encoded as AAC. Times are shifted so that the sound keeps its place relative to the
pictures: the annotated video starts at the source's first video frame (its time 0), so a source
whose video starts 0.85 s into the file has its audio moved 0.85 s earlier (and what came before
the first frame is dropped, as the pictures before it are).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

MP4_AUDIO = {"aac", "mp3", "ac3", "eac3", "opus", "flac", "alac"}  # what the MP4 muxer takes as it is
AHEAD_S = 0.5  # audio is muxed up to this far ahead of the last picture written


class AudioCopy:
    """Copies the first audio stream of ``source`` into the output container ``out`` (opened for
    writing, no stream header written yet), in step with the pictures: call :meth:`until` with
    each picture's time in seconds (from the first frame), then :meth:`finish`. A source without
    audio gives an object that does nothing (``stream`` None)."""

    def __init__(self, source: Path, out):
        import av

        self.out, self.stream, self._packets, self._next = out, None, iter(()), None
        self._samples: int | None = None  # re-encoding: samples written so far (None: none yet)
        self._input = av.open(str(source))
        audio = self._input.streams.audio
        if not audio:
            self._input.close()
            self._input = None
            return
        self._in = audio[0]
        video = self._input.streams.video[0] if self._input.streams.video else None
        start = video.start_time * video.time_base if video is not None and video.start_time is not None else 0
        self._start = Fraction(start)  # seconds of the source that are the annotated video's 0
        self._copy = self._in.codec_context.codec.canonical_name in MP4_AUDIO  # "mp3", not the decoder "mp3float"
        if self._copy:
            self.stream = out.add_stream_from_template(self._in)
        else:
            rate = self._in.codec_context.sample_rate or 44100
            self.stream = out.add_stream("aac", rate=rate)
            self.stream.layout = "stereo" if self._in.codec_context.channels > 1 else "mono"
            self._resampler = av.AudioResampler(format="fltp", layout=self.stream.layout, rate=rate,
                                                frame_size=1024)
        self._packets = self._input.demux(self._in)

    def until(self, t_s: float) -> None:
        """Mux the audio up to ``t_s`` (+ ``AHEAD_S``) seconds of the annotated video."""
        if self.stream is None:
            return
        while True:
            if self._next is None:
                self._next = next(self._packets, False)
            pkt = self._next
            if pkt is False:
                return
            if pkt.pts is not None and (pkt.pts * pkt.time_base - self._start) > t_s + AHEAD_S:
                return
            self._next = None
            self._write(pkt)

    def finish(self) -> None:
        """Mux what is left of the audio (and flush the encoder, when re-encoding); close the source."""
        if self.stream is None:
            return
        self.until(float("inf"))
        if not self._copy:
            for frame in self._resampler.resample(None):
                self._encode(frame)
            for pkt in self.stream.encode(None):
                self.out.mux(pkt)
        self._input.close()

    def _write(self, pkt) -> None:
        import av

        if self._copy:
            if pkt.dts is None or pkt.size == 0:  # the demuxer's end-of-stream packet
                return
            shift = round(self._start / pkt.time_base)
            if pkt.pts is not None and pkt.pts - shift < 0:
                return  # sound from before the first picture
            pkt.pts, pkt.dts = (None if pkt.pts is None else pkt.pts - shift), pkt.dts - shift
            pkt.stream = self.stream
            self.out.mux(pkt)
            return
        try:
            frames = pkt.decode()
        except av.error.FFmpegError:  # a damaged audio packet: the pictures matter more; skip it
            return
        for frame in frames:
            t = None if frame.pts is None else frame.pts * frame.time_base - self._start
            if t is not None and t < 0:
                continue
            if self._samples is None:  # the first sound kept: where it starts in the annotated video
                self._samples = round((t or 0) * self.stream.rate)
            frame.pts = None
            for out_frame in self._resampler.resample(frame):
                self._encode(out_frame)

    def _encode(self, frame) -> None:
        """Encode ``frame`` as the next samples of the output (pts counted in samples)."""
        frame.pts, frame.time_base = self._samples or 0, Fraction(1, self.stream.rate)
        self._samples = (self._samples or 0) + frame.samples
        for pkt in self.stream.encode(frame):
            self.out.mux(pkt)
