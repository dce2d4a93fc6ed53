"""CsiNet .mat interop: layouts, round trips, v7.3 files, rho on CsiNet's grid, every error."""

import h5py
import numpy as np
import pytest
import scipy.io
from linksim.channels.csinet_mat import (
    csinet_frequency_response,
    csinet_rho,
    read_csinet_hf,
    read_csinet_mat,
    write_csinet_mat,
)

from linksim.errors import DatasetError, LinksimInputError
from linksim.phy import transforms


def _random_ad(rng, n, na=32, nt=32):
    return ((rng.standard_normal((n, na, nt)) + 1j * rng.standard_normal((n, na, nt)))
            .astype(np.complex64))


def _mat73(path, variables):
    """A MATLAB v7.3-style file written by hand: HDF5, 512-byte user block, arrays transposed."""
    with h5py.File(path, "w", userblock_size=512) as f:
        for name, arr in variables.items():
            if np.iscomplexobj(arr):
                comp = np.empty(arr.shape, dtype=[("real", "<f8"), ("imag", "<f8")])
                comp["real"], comp["imag"] = arr.real, arr.imag
                arr = comp
            f.create_dataset(name, data=np.ascontiguousarray(arr.T))
    with open(path, "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file, Platform: test".ljust(116) + b"\0" * 8
                 + b"\x00\x02IM")


def test_single_entry_lands_where_the_csinet_layout_says(tmp_path):
    """Row layout: (re/im, angle rows, delay columns) in C order -> our [delay, angle]."""
    ht = np.full((2, 2048), 0.5)
    ht[0, 0 * 1024 + 5 * 32 + 7] = 0.75  # real part, CsiNet image row (angle) 5, column 7
    ht[1, 1 * 1024 + 2 * 32 + 30] = 0.25  # imaginary part, angle 2, delay 30
    scipy.io.savemat(tmp_path / "DATA_Htestin.mat", {"HT": ht})
    h = read_csinet_mat(tmp_path / "DATA_Htestin.mat")
    assert h.shape == (2, 32, 32) and h.dtype == np.complex64
    expected = np.zeros((2, 32, 32), np.complex64)
    expected[0, 7, 5] = 0.25  # delay row 7, angle column 5
    expected[1, 30, 2] = -0.25j
    np.testing.assert_array_equal(h, expected)


def test_round_trip_and_scale(tmp_path, rng):
    h = _random_ad(rng, 6)
    scale = write_csinet_mat(tmp_path / "h.mat", h)
    assert scale == pytest.approx(np.max(np.abs(transforms.complex_to_real(h))))
    raw = scipy.io.loadmat(tmp_path / "h.mat")["HT"]
    assert raw.shape == (6, 2048) and raw.dtype == np.float32
    assert raw.min() >= 0 and raw.max() <= 1
    assert np.isclose(raw.min(), 0) or np.isclose(raw.max(), 1)  # max rule spans [0, 1]
    back = read_csinet_mat(tmp_path / "h.mat")
    want = h.astype(np.complex128) / (2 * scale)
    for part in (np.real, np.imag):  # float32 storage: each part within half an ulp of 1
        np.testing.assert_allclose(part(back), part(want), rtol=0, atol=6e-8)
    np.testing.assert_allclose(2 * scale * back, h, rtol=0, atol=1e-7 * 2 * scale)
    # A given (larger) scale is used as is; a too-small one is refused.
    assert write_csinet_mat(tmp_path / "h2.mat", h, scale=3 * scale) == 3 * scale
    np.testing.assert_allclose(read_csinet_mat(tmp_path / "h2.mat"), h / (6 * scale), atol=1e-7)
    with pytest.raises(LinksimInputError, match="below the largest entry"):
        write_csinet_mat(tmp_path / "h3.mat", h, scale=scale / 2)
    assert not (tmp_path / "h3.mat").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.mat", "h2.mat"]  # no temp files


def test_write_then_raw_layout(tmp_path):
    """The writer puts our [delay m, angle a] at CsiNet flat index c*1024 + a*32 + m."""
    h = np.zeros((1, 32, 32), np.complex64)
    h[0, 3, 11] = 1 - 0.5j
    scale = write_csinet_mat(tmp_path / "one.mat", h)
    raw = scipy.io.loadmat(tmp_path / "one.mat")["HT"][0]
    assert scale == 1.0
    assert raw[11 * 32 + 3] == 1.0 and raw[1024 + 11 * 32 + 3] == 0.25
    assert np.count_nonzero(raw != 0.5) == 2


def test_mat73_file_written_by_hand(tmp_path, rng):
    ht = rng.uniform(0, 1, (4, 2048))
    _mat73(tmp_path / "v73.mat", {"HT": ht, "other": np.ones((2, 3))})
    with pytest.raises(NotImplementedError):  # scipy recognises it as v7.3
        scipy.io.loadmat(tmp_path / "v73.mat")
    h = read_csinet_mat(tmp_path / "v73.mat")
    img = ht.reshape(4, 2, 32, 32)
    np.testing.assert_allclose(h.real, img[:, 0].transpose(0, 2, 1) - 0.5, atol=1e-7)
    np.testing.assert_allclose(h.imag, img[:, 1].transpose(0, 2, 1) - 0.5, atol=1e-7)
    with pytest.raises(DatasetError, match=r"no variable 'HX'.*\['HT', 'other'\]"):
        read_csinet_mat(tmp_path / "v73.mat", key="HX")


def test_mat73_writer_round_trip(tmp_path, rng):
    h = _random_ad(rng, 3)
    scale = write_csinet_mat(tmp_path / "w73.mat", h, mat_version="7.3")
    with pytest.raises(NotImplementedError):
        scipy.io.loadmat(tmp_path / "w73.mat")
    with h5py.File(tmp_path / "w73.mat", "r") as f:
        assert f["HT"].shape == (2048, 3)  # MATLAB's column-major storage
    np.testing.assert_allclose(read_csinet_mat(tmp_path / "w73.mat"), h / (2 * scale), atol=1e-7)


def test_hf_layout_matches_our_frequency_convention(tmp_path, rng):
    """HF[a, i] = sum_m H_ad[m, a] exp(-j 2 pi m i / 257): our delay->frequency sign."""
    h = _random_ad(rng, 3)
    hf = csinet_frequency_response(h)
    assert hf.shape == (3, 32, 125)
    # Our convention on a 257-subcarrier grid, antennas taken back to angle bins.
    sf = transforms.rebuild_space_frequency(h, 257)
    ours = np.fft.fft(sf, axis=-1, norm="ortho")[:, :125, :].transpose(0, 2, 1) * np.sqrt(257)
    np.testing.assert_allclose(hf, ours, atol=2e-4 * np.abs(hf).max())
    # Single delay tap m in angle bin a: a pure phase ramp in row a only.
    one = np.zeros((1, 32, 32), np.complex64)
    one[0, 4, 9] = 1
    hf1 = csinet_frequency_response(one)[0]
    np.testing.assert_allclose(hf1[9], np.exp(-2j * np.pi * 4 * np.arange(125) / 257), atol=1e-5)
    assert np.count_nonzero(np.abs(hf1) > 1e-6) == 125


def test_hf_file_round_trip_and_rho(tmp_path, rng):
    h = _random_ad(rng, 5)
    hf = csinet_frequency_response(h)
    scipy.io.savemat(tmp_path / "DATA_HtestFin_all.mat", {"HF_all": hf.reshape(5, 4000)})
    hf_read = read_csinet_hf(tmp_path / "DATA_HtestFin_all.mat")
    assert hf_read.shape == (5, 32, 125) and hf_read.dtype == np.complex64
    np.testing.assert_array_equal(hf_read, hf)
    # The HT and HF files are consistent under our layout: rho = 1 whatever the HT scale.
    write_csinet_mat(tmp_path / "DATA_Htestin.mat", h)
    h_back = read_csinet_mat(tmp_path / "DATA_Htestin.mat")
    rho = csinet_rho(hf_read, csinet_frequency_response(h_back))
    np.testing.assert_allclose(rho, 1.0, atol=1e-5)
    # Reading the images the other way round (rows = delay) breaks that consistency.
    rho_t = csinet_rho(hf_read, csinet_frequency_response(h_back.transpose(0, 2, 1)))
    assert np.all(rho_t < 0.5)
    # Unrelated channels: rho well below 1.
    assert np.all(csinet_rho(hf, csinet_frequency_response(_random_ad(rng, 5))) < 0.6)
    # v7.3 complex (compound real/imag) HF file.
    _mat73(tmp_path / "hf73.mat", {"HF_all": hf.reshape(5, 4000).astype(np.complex128)})
    np.testing.assert_allclose(read_csinet_hf(tmp_path / "hf73.mat"), hf, atol=1e-6)


# ------------------------------------------------------------------------------ errors

def test_missing_file(tmp_path):
    with pytest.raises(DatasetError, match=r"nope\.mat: CsiNet \.mat file not found"):
        read_csinet_mat(tmp_path / "nope.mat")
    with pytest.raises(DatasetError, match="not found"):
        read_csinet_hf(tmp_path / "nope.mat")


@pytest.mark.parametrize("content", [b"", b"this is a text file, not MATLAB\n" * 20])
def test_not_a_mat_file(tmp_path, content):
    (tmp_path / "bad.mat").write_bytes(content)
    with pytest.raises(DatasetError, match=r"bad\.mat: not a MATLAB \.mat file"):
        read_csinet_mat(tmp_path / "bad.mat")


def test_missing_key_lists_keys(tmp_path):
    scipy.io.savemat(tmp_path / "k.mat", {"H_train": np.full((2, 2048), 0.5), "x": 1.0})
    with pytest.raises(DatasetError, match=r"k\.mat: no variable 'HT'; variables found: "
                                           r"\['H_train', 'x'\]"):
        read_csinet_mat(tmp_path / "k.mat")


def test_wrong_width(tmp_path):
    scipy.io.savemat(tmp_path / "w.mat", {"HT": np.full((3, 1024), 0.5)})
    with pytest.raises(DatasetError, match=r"w\.mat: .*1024 columns, expected 2048"):
        read_csinet_mat(tmp_path / "w.mat")
    scipy.io.savemat(tmp_path / "hf.mat", {"HF_all": np.ones((3, 4096), np.complex64)})
    with pytest.raises(DatasetError, match=r"hf\.mat: .*4096 columns, expected 4000"):
        read_csinet_hf(tmp_path / "hf.mat")


def test_values_outside_range(tmp_path, rng):
    centred = rng.uniform(-0.4, 0.4, (3, 2048))  # offset already removed
    scipy.io.savemat(tmp_path / "c.mat", {"HT": centred})
    with pytest.raises(DatasetError, match=r"c\.mat: .*spans \[-0\.4.*\[0, 1\] around 0\.5"):
        read_csinet_mat(tmp_path / "c.mat")
    scipy.io.savemat(tmp_path / "big.mat", {"HT": np.full((1, 2048), 1.5)})
    with pytest.raises(DatasetError, match="spans"):
        read_csinet_mat(tmp_path / "big.mat")


def test_nans(tmp_path):
    ht = np.full((2, 2048), 0.5)
    ht[1, 17] = np.nan
    ht[0, 3] = np.inf
    scipy.io.savemat(tmp_path / "n.mat", {"HT": ht})
    with pytest.raises(DatasetError, match=r"n\.mat: .*2 NaN or infinite"):
        read_csinet_mat(tmp_path / "n.mat")


def test_wrong_kind_of_values(tmp_path):
    scipy.io.savemat(tmp_path / "cx.mat", {"HT": np.full((1, 2048), 0.5 + 0.1j)})
    with pytest.raises(DatasetError, match=r"cx\.mat: .*is complex"):
        read_csinet_mat(tmp_path / "cx.mat")
    scipy.io.savemat(tmp_path / "re.mat", {"HF_all": np.ones((1, 4000))})
    with pytest.raises(DatasetError, match=r"re\.mat: .*is real"):
        read_csinet_hf(tmp_path / "re.mat")


def test_writer_rejects_bad_input(tmp_path, rng):
    with pytest.raises(LinksimInputError, match=r"\[N, Na, Nt\]"):
        write_csinet_mat(tmp_path / "x.mat", np.ones((32, 32), np.complex64))
    h = _random_ad(rng, 2)
    h[0, 0, 0] = np.nan
    with pytest.raises(LinksimInputError, match="NaN"):
        write_csinet_mat(tmp_path / "x.mat", h)
    with pytest.raises(LinksimInputError, match="positive"):
        write_csinet_mat(tmp_path / "x.mat", _random_ad(rng, 2), scale=0.0)
    assert list(tmp_path.iterdir()) == []
