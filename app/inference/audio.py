"""YAMNet audio tagging: the log-mel front end in numpy and the ONNX runtime wrapper.

The front end reproduces YAMNet's reference features (tensorflow/models,
research/audioset/yamnet/features.py with the default params.py): 16 kHz mono, STFT with
a 25 ms periodic Hann window and a 10 ms hop, no centering padding, 512-point FFT
magnitude, TensorFlow's HTK mel matrix (64 bands, 125-7500 Hz, DC bin zeroed) and
``log(mel + 0.001)``.

The offset is 0.001, as in YAMNet's params.py, and not the 1e-6 that torchaudio-based
ports use: the model's own input quantization starts at -zero_point * scale =
-144 * 0.04794 = -6.903 = log(0.001), so the quantized network was calibrated on
features floored at log(0.001), and anything below that is clipped anyway.

The model (built by ``models/audio.py``) takes float32 [N, 96, 64] log-mel patches and
quantizes them itself; it returns sigmoid class scores [N, 521] over the AudioSet label
list (``app.inference.labels.audioset_labels``) and the 1024-wide embedding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.inference.specs import AUDIO_DIM, AUDIO_RATE, AUDIOSET_CLASSES, PATCH_FRAMES

MODEL_FILE = "yamnet.onnx"
SAMPLE_RATE = AUDIO_RATE
WINDOW_SAMPLES = 400  # 25 ms
HOP_SAMPLES = 160  # 10 ms
FFT_SIZE = 512  # the next power of two above the window, as the reference computes it
MEL_BANDS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
LOG_OFFSET = 0.001
FRAME_SECONDS = HOP_SAMPLES / SAMPLE_RATE
EMBEDDING_DIM = AUDIO_DIM
NUM_CLASSES = AUDIOSET_CLASSES
# The log-mel value of digital silence, used to pad patches.
SILENCE_LOG_MEL = float(np.log(LOG_OFFSET))
# A clip shorter than one patch is scored only if some band carries at least as much
# energy as the log offset itself; below that the features are indistinguishable from
# the padding and the patch would only ever say "Silence".
SOUND_LOG_MEL = float(np.log(2 * LOG_OFFSET))
# Bounds the [frames, 257] spectrum computed at once. Each frame is computed on its own,
# so this changes nothing but speed and memory: 4096 frames (41 s) peak at ~50 MB and
# run ~40% faster than 8192 (~100 MB), whose arrays no longer fit in cache.
FRAMES_PER_CHUNK = 4096
BATCH_SIZE = 32


def _hertz_to_mel(hertz: np.ndarray | float) -> np.ndarray:
    """The HTK mel scale, with the constants tf.signal uses."""
    return 1127.0 * np.log1p(np.asarray(hertz, dtype=np.float64) / 700.0)


def mel_matrix() -> np.ndarray:
    """[257, 64] float32 weights, as ``tf.signal.linear_to_mel_weight_matrix`` builds them.

    The triangles are linear in mel (not in Hz as in torchaudio/librosa), have unit
    peak (no area normalization), and the DC bin gets no weight.
    """
    num_bins = FFT_SIZE // 2 + 1
    bin_hz = np.linspace(0.0, SAMPLE_RATE / 2.0, num_bins)[1:]
    bin_mel = _hertz_to_mel(bin_hz)[:, None]
    edges = np.linspace(_hertz_to_mel(MEL_MIN_HZ), _hertz_to_mel(MEL_MAX_HZ), MEL_BANDS + 2)
    lower, center, upper = edges[:-2][None, :], edges[1:-1][None, :], edges[2:][None, :]
    rising = (bin_mel - lower) / (center - lower)
    falling = (upper - bin_mel) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return np.vstack([np.zeros((1, MEL_BANDS)), weights]).astype(np.float32)


_MEL_MATRIX = mel_matrix()
# Periodic Hann (length N, period N), which tf.signal.stft uses; np.hanning is symmetric.
_WINDOW = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(WINDOW_SAMPLES) / WINDOW_SAMPLES)
           ).astype(np.float32)


def frame_count(num_samples: int) -> int:
    """STFT frames of a clip: only whole windows, like tf.signal.stft(pad_end=False)."""
    return 0 if num_samples < WINDOW_SAMPLES else 1 + (num_samples - WINDOW_SAMPLES) // HOP_SAMPLES


def log_mel(wave: np.ndarray) -> np.ndarray:
    """float32 [frames, 64] log-mel spectrogram of a 16 kHz mono waveform in [-1, 1]."""
    wave = np.asarray(wave)
    if wave.ndim != 1:
        raise ValueError(f"expected a mono waveform [samples], got shape {wave.shape}")
    wave = wave.astype(np.float32, copy=False)
    frames_total = frame_count(wave.shape[0])
    out = np.empty((frames_total, MEL_BANDS), dtype=np.float32)
    if frames_total == 0:
        return out
    framed = np.lib.stride_tricks.sliding_window_view(wave, WINDOW_SAMPLES)[::HOP_SAMPLES]
    for start in range(0, frames_total, FRAMES_PER_CHUNK):
        chunk = framed[start:start + FRAMES_PER_CHUNK]
        out[start:start + chunk.shape[0]] = _log_mel_rows(chunk)
    return out


def _log_mel_rows(framed: np.ndarray) -> np.ndarray:
    """[k, 64] log-mel of k framed windows [k, 400]."""
    # rfft zero-pads each 400-sample frame at the end to 512, as tf.signal.stft does.
    magnitude = np.abs(np.fft.rfft(framed * _WINDOW, n=FFT_SIZE, axis=-1)).astype(np.float32)
    return np.log(magnitude @ _MEL_MATRIX + LOG_OFFSET)


def patches(mel: np.ndarray, hop_frames: int = PATCH_FRAMES) -> tuple[np.ndarray, np.ndarray]:
    """Cut a [frames, 64] log-mel spectrogram into model inputs.

    Returns ([P, 96, 64] float32 patches, [P] float64 start times in seconds). Patches
    start every ``hop_frames`` frames (96 = back to back, 48 = YAMNet's 50% overlap).
    Only real frames go into patches, except in one case:

    - A clip shorter than one patch is padded with silence to one patch if it has sound
      (some value above ``SOUND_LOG_MEL``), and gives no patch if it is silent.
    - Otherwise, when the hops leave a tail of at least half a patch (0.48 s) uncovered,
      one more patch is added, aligned to the end of the clip (so it overlaps the one
      before). A shorter tail is dropped: it is under half a second of sound that the
      previous patch nearly reaches, and a mostly-padded patch would mostly say "Silence".
    """
    mel = np.asarray(mel, dtype=np.float32)
    if mel.ndim != 2 or mel.shape[1] != MEL_BANDS:
        raise ValueError(f"expected a [frames, {MEL_BANDS}] log-mel array, got {mel.shape}")
    if hop_frames < 1:
        raise ValueError("hop_frames must be at least 1")
    frames_total = mel.shape[0]
    if frames_total < PATCH_FRAMES:
        if frames_total == 0 or float(mel.max()) < SOUND_LOG_MEL:
            return (np.empty((0, PATCH_FRAMES, MEL_BANDS), dtype=np.float32),
                    np.empty(0, dtype=np.float64))
        padded = np.full((1, PATCH_FRAMES, MEL_BANDS), SILENCE_LOG_MEL, dtype=np.float32)
        padded[0, :frames_total] = mel
        return padded, np.zeros(1, dtype=np.float64)
    starts = list(range(0, frames_total - PATCH_FRAMES + 1, hop_frames))
    uncovered = frames_total - (starts[-1] + PATCH_FRAMES)
    if uncovered >= PATCH_FRAMES // 2:
        starts.append(frames_total - PATCH_FRAMES)
    windows = np.lib.stride_tricks.sliding_window_view(mel, PATCH_FRAMES, axis=0)
    # sliding_window_view puts the window axis last: [starts, 64, 96] -> [starts, 96, 64].
    out = np.ascontiguousarray(windows[starts].transpose(0, 2, 1))
    return out, np.asarray(starts, dtype=np.float64) * FRAME_SECONDS


class PatchStream:
    """``patches(log_mel(wave))`` of a waveform that arrives in pieces, in bounded memory.

    Feed the pieces in order, then call ``finish``; the patches of all calls together
    equal the one-pass patches, value for value: the spectrum is computed in the same
    chunks of FRAMES_PER_CHUNK frames from the start, and a patch goes out once its last
    frame exists. Holds at most one chunk of samples and the frames of the last patch.
    """

    def __init__(self, hop_frames: int = PATCH_FRAMES):
        if hop_frames < 1:
            raise ValueError("hop_frames must be at least 1")
        self.hop = hop_frames
        self.wave = np.empty(0, np.float32)  # samples from frame ``frames_done`` on
        self.frames_done = 0
        self.mel = np.empty((0, MEL_BANDS), np.float32)  # frames from ``mel_start`` on
        self.mel_start = 0
        self.next_patch = 0  # first frame of the next patch
        self.last_patch: int | None = None

    def feed(self, wave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(patches [P, 96, 64], start times [P]) completed by these samples."""
        self.wave = np.concatenate([self.wave, np.asarray(wave, np.float32).reshape(-1)])
        chunk_samples = (FRAMES_PER_CHUNK - 1) * HOP_SAMPLES + WINDOW_SAMPLES
        while len(self.wave) >= chunk_samples:
            self._add_frames(FRAMES_PER_CHUNK)
        return self._cut(final=False)

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """The remaining patches, the clip's last (tail) patch included."""
        self._add_frames(frame_count(len(self.wave)))
        return self._cut(final=True)

    def _add_frames(self, count: int) -> None:
        if count <= 0:
            return
        framed = np.lib.stride_tricks.sliding_window_view(self.wave, WINDOW_SAMPLES)
        rows = _log_mel_rows(framed[::HOP_SAMPLES][:count])
        self.mel = np.concatenate([self.mel, rows])
        self.frames_done += count
        self.wave = self.wave[count * HOP_SAMPLES:]

    def _cut(self, final: bool) -> tuple[np.ndarray, np.ndarray]:
        total = self.mel_start + len(self.mel)
        starts = []
        while self.next_patch + PATCH_FRAMES <= total:
            starts.append(self.next_patch)
            self.next_patch += self.hop
        if final:
            if total < PATCH_FRAMES:  # shorter than one patch: the one-pass rules
                return patches(self.mel)
            last = starts[-1] if starts else self.last_patch
            if total - (last + PATCH_FRAMES) >= PATCH_FRAMES // 2:
                starts.append(total - PATCH_FRAMES)
        out = np.empty((len(starts), PATCH_FRAMES, MEL_BANDS), np.float32)
        for i, s in enumerate(starts):
            out[i] = self.mel[s - self.mel_start:s - self.mel_start + PATCH_FRAMES]
        if starts:
            self.last_patch = starts[-1]
        # Kept: the frames of the next patch, and at least the last patch's worth (the
        # tail patch ends at the clip's end).
        keep_from = max(0, min(self.next_patch, total - PATCH_FRAMES) - self.mel_start)
        self.mel = self.mel[keep_from:]
        self.mel_start += keep_from
        return out, np.asarray(starts, dtype=np.float64) * FRAME_SECONDS


class AudioModel:
    """YAMNet over log-mel patches: 1024-wide embeddings and 521 AudioSet scores."""

    def __init__(self, path: Path | None = None, threads: int | None = None):
        # Imported here: decode workers use the front end above, not ONNX Runtime
        # (measured: 27 MB less per worker).
        from app.inference.session import model_path, open_session
        self.session = open_session(path or model_path(MODEL_FILE), threads=threads)
        batch_dim = self.session.get_inputs()[0].shape[0]
        # The recipe gives the graph a dynamic batch; a fixed one is honoured all the same.
        self.batch_size = batch_dim if isinstance(batch_dim, int) else BATCH_SIZE

    def run(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(embeddings float32 [P, 1024], scores float32 [P, 521]) for [P, 96, 64] patches."""
        patches = np.asarray(patches, dtype=np.float32)
        if patches.ndim != 3 or patches.shape[1:] != (PATCH_FRAMES, MEL_BANDS):
            raise ValueError(f"expected patches [P, {PATCH_FRAMES}, {MEL_BANDS}], "
                             f"got {patches.shape}")
        count = patches.shape[0]
        embeddings = np.empty((count, EMBEDDING_DIM), dtype=np.float32)
        scores = np.empty((count, NUM_CLASSES), dtype=np.float32)
        for start in range(0, count, self.batch_size):
            batch = np.ascontiguousarray(patches[start:start + self.batch_size])
            embedding, score = self.session.run(["embedding", "scores"], {"log_mel": batch})
            embeddings[start:start + batch.shape[0]] = embedding
            scores[start:start + batch.shape[0]] = score
        return embeddings, scores

    def embed_wave(self, wave: np.ndarray, hop_frames: int = PATCH_FRAMES
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(embeddings [P, 1024], scores [P, 521], start times in seconds [P]) of a 16 kHz
        mono waveform; P is 0 for a silent clip shorter than one patch."""
        mel_patches, start_times = patches(log_mel(wave), hop_frames)
        embeddings, scores = self.run(mel_patches)
        return embeddings, scores, start_times
