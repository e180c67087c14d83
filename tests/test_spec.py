"""STFT round trip, the log-frequency warp, shapes and batch consistency of pixelsound.spec."""

import pytest
import torch

from pixelsound import spec


def test_stft_istft_identity():
    torch.manual_seed(0)
    wave = torch.randn(2, 3, 5000, dtype=torch.float64)
    s = spec.stft(wave, 254, 64)
    assert s.shape == (2, 3, 128, spec.frames_for(5000, 64)) and s.is_complex()
    back = spec.istft(s, 254, 64, 5000)
    assert back.shape == wave.shape
    assert torch.allclose(back, wave, atol=1e-9)


def test_stft_batch_consistency():
    torch.manual_seed(1)
    wave = torch.randn(4, 3000)
    batched = spec.stft(wave, 126, 32)
    for i in range(4):
        assert torch.allclose(spec.stft(wave[i], 126, 32), batched[i], atol=1e-5)


def test_paper_sizes():
    # 65535 samples, n_fft 1022, hop 256 -> 512 x 256; warped to 256 x 256
    assert spec.samples_for(256, 256) == 65535
    s = spec.stft(torch.zeros(65535), 1022, 256)
    assert s.shape == (512, 256)
    m = spec.log_freq_matrix(512, 256, 11025)
    assert spec.warp(s.abs(), m).shape == (256, 256)


def test_log_freq_matrix_properties():
    m = spec.log_freq_matrix(512, 256, 11025)
    assert m.shape == (256, 512)
    assert torch.allclose(m.sum(1), torch.ones(256))
    assert (m >= 0).all()
    pos = spec.log_bin_positions(512, 256, 11025)
    gaps = pos.diff()
    assert pos[0] == 0 and abs(pos[-1] - 511) < 1e-9
    assert (gaps > 0).all() and gaps[-1] > 10 * gaps[0]  # log-spaced: dense at the bottom, sparse at the top
    # every linear bin is reached by some log bin, so unwarping is defined everywhere
    assert (m.sum(0) > 0).all()


@pytest.mark.parametrize("n_lin,n_log,sr", [(512, 256, 11025), (256, 128, 8000), (128, 64, 11025)])
def test_warp_unwarp_near_identity_on_smooth_spectra(n_lin, n_log, sr):
    m = spec.log_freq_matrix(n_lin, n_log, sr)
    f = torch.linspace(0, 1, n_lin)[:, None]
    smooth = torch.cat(
        [torch.exp(-(((f - 0.4) / 0.15) ** 2)), 1 + 0.5 * torch.sin(5 * f), torch.exp(-4 * f)], 1
    )
    back = spec.unwarp(spec.warp(smooth, m), m)
    assert back.shape == smooth.shape
    assert (back - smooth).abs().max() < 0.02


def test_unwarp_accepts_precomputed_matrix_and_keeps_leading_dims():
    m = spec.log_freq_matrix(128, 48, 8000)
    x = torch.rand(2, 3, 48, 7)
    a = spec.unwarp(x, m)
    b = spec.unwarp(x, spec.unwarp_matrix(m))
    assert a.shape == (2, 3, 128, 7) and torch.allclose(a, b)
    assert spec.warp(torch.rand(5, 2, 128, 7), m).shape == (5, 2, 48, 7)
    # constant masks stay constant through the unwarp (rows of the unwarp matrix sum to 1)
    assert torch.allclose(spec.unwarp(torch.full((48, 3), 0.7), m), torch.full((128, 3), 0.7))


def test_warp_batch_consistency():
    m = spec.log_freq_matrix(64, 32, 8000)
    x = torch.rand(3, 64, 10)
    assert torch.allclose(spec.warp(x, m)[1], spec.warp(x[1], m))


def test_unwarp_rejects_wrong_matrix():
    m = spec.log_freq_matrix(64, 32, 8000)
    with pytest.raises(ValueError, match="does not fit"):
        spec.unwarp(torch.rand(20, 4), m)


def test_magnitude_helpers():
    mag = torch.tensor([0.0, 1.0, 1e6])
    assert torch.isfinite(spec.log_magnitude(mag)).all()
    assert torch.allclose(spec.magnitude_weight(mag), torch.tensor([1e-3, 0.6931472, 10.0]))


def test_compete_gives_a_contested_bin_to_its_likely_source():
    masks = torch.tensor([[0.9, 0.6, 0.1, 0.0], [0.3, 0.6, 0.05, 0.0]])[:, None, :]  # (N=2, F=1, T=4)
    shared = spec.compete(masks, 3.0)
    assert shared.shape == masks.shape
    # bin 0: the first source takes almost all of the largest mask; bin 1: a tie splits it evenly
    assert shared[0, 0, 0] == pytest.approx(0.9 * 0.729 / (0.729 + 0.027)) and shared[1, 0, 0] < 0.04
    assert shared[:, 0, 1].tolist() == pytest.approx([0.3, 0.3])
    assert torch.allclose(shared.sum(0), masks.amax(0))  # never more than the bin's largest mask
    assert shared[:, 0, 3].tolist() == [0.0, 0.0]  # a bin no source claims stays empty
    assert torch.equal(spec.compete(masks[:1], 3.0), masks[:1])  # one source keeps its mask
    assert spec.compete(masks, 0.0) is masks  # 0: the paper's independent masks
