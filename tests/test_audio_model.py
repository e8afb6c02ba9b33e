"""YAMNet front end (numpy only) and, marked ``models``, the installed yamnet.onnx."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import av
import numpy as np
import onnx
import pytest

from app.inference import audio
from app.inference.labels import audioset_labels


def tone(hertz: float, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * audio.SAMPLE_RATE)) / audio.SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * hertz * t)).astype(np.float32)


def band_center_hz() -> np.ndarray:
    """Center frequency of each mel band, from the mel scale itself (not the matrix)."""
    mel_edges = np.linspace(1127.0 * np.log1p(audio.MEL_MIN_HZ / 700.0),
                            1127.0 * np.log1p(audio.MEL_MAX_HZ / 700.0), audio.MEL_BANDS + 2)
    return 700.0 * np.expm1(mel_edges[1:-1] / 1127.0)


# --- front end -------------------------------------------------------------------------

def test_log_mel_shape_and_frame_count():
    for samples, frames in [(0, 0), (399, 0), (400, 1), (559, 1), (560, 2), (16000, 98)]:
        mel = audio.log_mel(np.zeros(samples, dtype=np.float32))
        assert mel.shape == (frames, audio.MEL_BANDS)
        assert mel.dtype == np.float32
    # 0.975 s is the shortest clip that fills one patch, as in the YAMNet reference.
    assert audio.frame_count(15600) == audio.PATCH_FRAMES


def test_log_mel_rejects_multichannel():
    with pytest.raises(ValueError):
        audio.log_mel(np.zeros((2, 16000), dtype=np.float32))


def test_silence_is_the_log_offset():
    # YAMNet's offset is 0.001 (params.py), which is also where the model's input
    # quantization range begins; the torchaudio ports' 1e-6 would only be clipped.
    mel = audio.log_mel(np.zeros(16000, dtype=np.float32))
    np.testing.assert_allclose(mel, np.log(0.001), rtol=0, atol=1e-6)
    # A whisper far below the offset reads as silence too; a tone rises above it.
    whisper = audio.log_mel(tone(1000.0, 1.0, amplitude=1e-9))
    np.testing.assert_allclose(whisper, np.log(0.001), rtol=0, atol=1e-3)
    assert audio.log_mel(tone(1000.0, 1.0)).max() > np.log(0.001) + 5


def test_1khz_tone_peaks_in_the_1khz_band():
    mel = audio.log_mel(tone(1000.0, 1.0))
    peak_band = int(np.argmax(mel.mean(axis=0)))
    assert peak_band == int(np.argmin(np.abs(band_center_hz() - 1000.0)))
    # A steady tone gives the same spectrum in every frame.
    assert np.ptp(mel[:, peak_band]) < 1e-3


def test_tone_band_follows_frequency():
    peaks = [int(np.argmax(audio.log_mel(tone(hz, 0.5)).mean(axis=0)))
             for hz in (200.0, 500.0, 1000.0, 2000.0, 4000.0, 7000.0)]
    assert peaks == sorted(peaks) and len(set(peaks)) == len(peaks)


def test_mel_matrix_is_tensorflows():
    weights = audio.mel_matrix()
    assert weights.shape == (audio.FFT_SIZE // 2 + 1, audio.MEL_BANDS)
    assert not weights[0].any()  # HTK: the DC bin carries no weight
    assert weights.min() >= 0.0 and weights.max() <= 1.0
    # Unit-peak triangles (no area normalization): every band reaches close to 1.
    assert weights.max(axis=0).min() > 0.5
    # Nothing outside 125-7500 Hz.
    bin_hz = np.linspace(0, audio.SAMPLE_RATE / 2, audio.FFT_SIZE // 2 + 1)
    outside = (bin_hz <= audio.MEL_MIN_HZ) | (bin_hz >= audio.MEL_MAX_HZ)
    assert not weights[outside].any()


def test_log_mel_matches_the_dft_matrix_formulation():
    """YAMNet's TFLite-compatible path: explicit DFT matrix, frame padded on both sides,
    window written as 0.5 - 0.5 cos(2 pi k / N). Magnitudes do not depend on where the
    zero padding goes, so it must agree with the rfft path."""
    wave_ = np.random.default_rng(0).uniform(-0.5, 0.5, 4000).astype(np.float32)
    n, fft = audio.WINDOW_SAMPLES, audio.FFT_SIZE
    frames = np.stack([wave_[i:i + n] for i in range(0, len(wave_) - n + 1, audio.HOP_SAMPLES)])
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(0, 1.0, 1.0 / n))
    half = (fft - n) // 2
    padded = np.pad(frames * window, [(0, 0), (half, fft - n - half)])
    dft = np.exp(-2j * np.pi * np.outer(np.arange(fft), np.arange(fft // 2 + 1)) / fft)
    expected = np.log(np.abs(padded @ dft) @ audio.mel_matrix() + 0.001)
    np.testing.assert_allclose(audio.log_mel(wave_), expected, atol=2e-4)


def test_patches_back_to_back_with_end_aligned_tail():
    mel = np.zeros((548, audio.MEL_BANDS), dtype=np.float32)
    mel[:, 0] = np.arange(548)  # frame index, to see which frames each patch holds
    out, starts = audio.patches(mel)
    assert out.shape == (6, audio.PATCH_FRAMES, audio.MEL_BANDS)
    assert out.dtype == np.float32
    # 5 whole patches end at frame 480; 68 frames (>= 48) remain, so one more patch is
    # aligned to the end of the clip.
    np.testing.assert_allclose(starts, [0.0, 0.96, 1.92, 2.88, 3.84, 4.52])
    for patch, start in zip(out, starts, strict=True):
        first = round(start / audio.FRAME_SECONDS)
        np.testing.assert_array_equal(patch[:, 0], np.arange(first, first + audio.PATCH_FRAMES))


def test_patches_drop_a_short_tail_and_honour_the_hop():
    mel = np.zeros((96 + 47, audio.MEL_BANDS), dtype=np.float32)
    assert audio.patches(mel)[0].shape[0] == 1
    out, starts = audio.patches(np.zeros((192, audio.MEL_BANDS), np.float32), hop_frames=48)
    assert out.shape[0] == 3
    np.testing.assert_allclose(starts, [0.0, 0.48, 0.96])


def test_short_clip_is_padded_only_if_it_has_sound():
    sound = audio.log_mel(tone(1000.0, 0.5))
    assert sound.shape[0] < audio.PATCH_FRAMES
    out, starts = audio.patches(sound)
    assert out.shape == (1, audio.PATCH_FRAMES, audio.MEL_BANDS)
    np.testing.assert_array_equal(starts, [0.0])
    np.testing.assert_array_equal(out[0, :sound.shape[0]], sound)
    np.testing.assert_allclose(out[0, sound.shape[0]:], np.log(audio.LOG_OFFSET))

    silent, _ = audio.patches(audio.log_mel(np.zeros(8000, dtype=np.float32)))
    assert silent.shape == (0, audio.PATCH_FRAMES, audio.MEL_BANDS)
    empty, empty_starts = audio.patches(np.empty((0, audio.MEL_BANDS), np.float32))
    assert empty.shape[0] == 0 and empty_starts.shape == (0,)


# --- installed model -------------------------------------------------------------------

@pytest.mark.parametrize("seconds", [0.004, 0.5, 0.97, 1.5, 43.0, 90.3])
def test_patch_stream_equals_one_pass_in_any_pieces(seconds):
    """A soundtrack fed in pieces of any size gives the one-pass patches, value for value,
    the tail patch and the short-clip padding included."""
    rng = np.random.default_rng(int(seconds * 1000))
    wave = (0.3 * rng.standard_normal(int(seconds * audio.SAMPLE_RATE))).astype(np.float32)
    for hop in (audio.PATCH_FRAMES, 48):
        want, want_times = audio.patches(audio.log_mel(wave), hop)
        stream = audio.PatchStream(hop)
        cuts = np.sort(rng.integers(0, len(wave) + 1, 7))
        got = [stream.feed(piece) for piece in np.split(wave, cuts)] + [stream.finish()]
        np.testing.assert_array_equal(np.concatenate([p for p, _ in got]), want)
        np.testing.assert_array_equal(np.concatenate([t for _, t in got]), want_times)
    # The held spectrum stays bounded: at most a chunk of samples and a patch of frames.
    assert len(stream.mel) <= 2 * audio.PATCH_FRAMES
    assert len(stream.wave) < audio.FRAMES_PER_CHUNK * audio.HOP_SAMPLES


@pytest.fixture(scope="module")
def audio_model(real_models_dir: Path) -> audio.AudioModel:
    return audio.AudioModel(real_models_dir / audio.MODEL_FILE, threads=2)


def label_index(name: str) -> int:
    return audioset_labels().index(name)


def ranked(scores: np.ndarray) -> list[str]:
    labels = audioset_labels()
    return [labels[i] for i in np.argsort(-scores)]


def read_wav_16k(path: Path) -> np.ndarray:
    """Mono float32 at 16 kHz from a 16-bit PCM WAV, resampled by PyAV (libswresample)."""
    with wave.open(str(path)) as f:
        assert f.getsampwidth() == 2
        rate, channels = f.getframerate(), f.getnchannels()
        pcm = np.frombuffer(f.readframes(f.getnframes()), dtype=np.int16).reshape(-1, channels)
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm[:, :1].T), format="s16p",
                                       layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=audio.SAMPLE_RATE)
    # resample(None) flushes the samples the resampler holds back for its filter.
    out = resampler.resample(frame) + resampler.resample(None)
    return np.concatenate([f.to_ndarray().reshape(-1) for f in out]).astype(np.float32)


@pytest.mark.models
def test_model_file_interface(real_models_dir: Path):
    model = onnx.load(str(real_models_dir / audio.MODEL_FILE), load_external_data=False)
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)

    def dims(value_info):
        return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]

    assert [(i.name, dims(i)) for i in model.graph.input] == [("log_mel", ["N", 96, 64])]
    assert sorted((o.name, dims(o)) for o in model.graph.output) == [
        ("embedding", ["N", 1024]), ("scores", ["N", 521])]


@pytest.mark.models
def test_batches_match_single_patches(audio_model: audio.AudioModel):
    rng = np.random.default_rng(3)
    batch = rng.uniform(-6.9, 3.0, size=(5, 96, 64)).astype(np.float32)
    embeddings, scores = audio_model.run(batch)
    assert embeddings.shape == (5, 1024) and scores.shape == (5, 521)
    assert embeddings.dtype == np.float32 and scores.dtype == np.float32
    assert scores.min() >= 0.0 and scores.max() <= 1.0
    assert embeddings.min() >= 0.0  # averaged ReLU activations
    for i in range(5):
        one_embedding, one_scores = audio_model.run(batch[i:i + 1])
        np.testing.assert_allclose(one_embedding[0], embeddings[i], atol=1e-5)
        np.testing.assert_allclose(one_scores[0], scores[i], atol=1e-5)
    empty_embeddings, empty_scores = audio_model.run(np.empty((0, 96, 64), np.float32))
    assert empty_embeddings.shape == (0, 1024) and empty_scores.shape == (0, 521)


@pytest.mark.models
def test_2khz_sine_scores_sine_wave_top(audio_model: audio.AudioModel):
    _, scores, starts = audio_model.embed_wave(tone(2000.0, 3.0))
    assert len(starts) == 3
    # Measured 0.96-0.99 over amplitudes 0.1-0.9.
    assert ranked(scores.mean(axis=0))[0] == "Sine wave"
    assert scores[:, label_index("Sine wave")].min() > 0.8


@pytest.mark.models
def test_1khz_sine_scores_sine_wave_in_top_3(audio_model: audio.AudioModel):
    # A steady 1 kHz tone is the textbook test beep: YAMNet ranks "Beep, bleep" first
    # (~0.88) and "Sine wave" second (0.25-0.51 depending on amplitude and phase).
    _, scores, _ = audio_model.embed_wave(tone(1000.0, 3.0))
    mean = scores.mean(axis=0)
    assert "Sine wave" in ranked(mean)[:3]
    assert ranked(mean)[0] in {"Sine wave", "Beep, bleep"}
    assert mean[label_index("Sine wave")] > 0.15


@pytest.mark.models
def test_spoken_sentences_score_speech_top(audio_model: audio.AudioModel, tmp_path: Path):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (Debian package espeak-ng)")
    path = tmp_path / "speech.wav"
    text = ("Hello, my name is Anna. I am calling about the meeting tomorrow morning. "
            "Please call me back when you get this message. Thank you very much.")
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), text], check=True,
                   capture_output=True)
    wave_16k = read_wav_16k(path)
    assert 4.0 < wave_16k.shape[0] / audio.SAMPLE_RATE < 15.0
    _, scores, _ = audio_model.embed_wave(wave_16k)
    speech = label_index("Speech")
    # Measured: Speech tops every patch, mean 0.85-0.99 over four espeak voices.
    assert ranked(scores.mean(axis=0))[0] == "Speech"
    assert scores[:, speech].mean() > 0.6
    assert (scores.argmax(axis=1) == speech).mean() >= 0.75


@pytest.mark.models
def test_silence_is_not_scored_and_short_sound_is(audio_model: audio.AudioModel):
    embeddings, scores, starts = audio_model.embed_wave(np.zeros(8000, dtype=np.float32))
    assert embeddings.shape == (0, 1024) and scores.shape == (0, 521) and starts.shape == (0,)
    embeddings, scores, starts = audio_model.embed_wave(tone(2000.0, 0.5))
    assert embeddings.shape == (1, 1024) and scores.shape == (1, 521)
