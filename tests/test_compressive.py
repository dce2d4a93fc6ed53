"""Compressive-sensing baselines: exact recovery of sparse / piecewise-constant channels, exact
bit accounting, quantised measurements, payload sizing, fitting and input errors."""

import numpy as np
import pytest

from linksim.baselines import compressive as cs
from linksim.errors import LinksimInputError
from linksim.phy.metrics import nmse_per_sample


def nmse_db(h, h_hat):
    return 10 * np.log10(nmse_per_sample(h, h_hat).mean())


def sparse_ad(rng, b, k, na=32, nt=32):
    """``k`` non-zero CN(0, 1) coefficients per sample at random positions, ``[b, Na, Nt]``."""
    h = np.zeros((b, na * nt), np.complex64)
    for i in range(b):
        idx = rng.choice(na * nt, k, replace=False)
        h[i, idx] = (rng.standard_normal(k) + 1j * rng.standard_normal(k)) / np.sqrt(2)
    return h.reshape(b, na, nt)


def piecewise_constant_ad(rng, b, na=32, nt=32, rectangles=2):
    """Real and imaginary images, each a sum of ``rectangles`` constant rectangles (sides
    ``Na/4 .. Na/2``)."""
    out = np.zeros((b, 2, na, nt))
    for i in range(b):
        for part in range(2):
            for _ in range(rectangles):
                hgt, wid = rng.integers(na // 4, na // 2), rng.integers(nt // 4, nt // 2)
                r0, c0 = rng.integers(0, na - hgt), rng.integers(0, nt - wid)
                out[i, part, r0:r0 + hgt, c0:c0 + wid] += rng.standard_normal()
    return (out[:, 0] + 1j * out[:, 1]).astype(np.complex64)


# -- recovery at CR 4 (M = 512 float32 measurements of N = 2048) --------------------------------
@pytest.mark.parametrize("penalty", ["l1", "complex"])
def test_lasso_recovers_a_sparse_channel(rng, penalty):
    h = sparse_ad(rng, 4, 20)
    lasso = cs.Lasso((32, 32), 512, alpha=1e-4, penalty=penalty, iterations=150)
    assert lasso.compression_ratio == 4 and lasso.payload_bits == 32 + 512 * 32
    assert nmse_db(h, lasso.compress(h)[0]) < -40


def test_tv_recovers_a_piecewise_constant_channel(rng):
    h = piecewise_constant_ad(rng, 4)
    tv = cs.TotalVariation((32, 32), 512, mu=1e5)
    assert tv.x_step == "dct"
    assert nmse_db(h, tv.compress(h)[0]) < -30


@pytest.mark.parametrize("groups", [False, True])
def test_omp_recovers_a_sparse_channel(rng, groups):
    h = sparse_ad(rng, 6, 20)
    omp = cs.OMP((32, 32), 512, sparsity=20 if groups else 40, complex_groups=groups)
    assert nmse_db(h, omp.compress(h)[0]) < -40


def test_omp_stops_early_on_a_vanished_residual(rng):
    """Far more atoms than non-zeros: the pursuit stops where the residual vanishes, so the
    extra atoms add nothing."""
    h = sparse_ad(rng, 5, 3, 8, 8)
    omp = cs.OMP((8, 8), 60, sparsity=50)
    *_, used = omp.pursuit(omp.measurements(omp.encode(h)), 50)
    assert np.all(used < 50)
    assert nmse_db(h, omp.compress(h)[0]) < -100


# -- solver pieces --------------------------------------------------------------------------------
def test_image_gradient_adjoint_and_gram(rng):
    shape = (5, 7)
    x = rng.standard_normal((3, 70))
    g = rng.standard_normal((3, 2, 2, 5, 7))
    grad = cs.image_gradient(x, shape)
    assert np.all(grad[:, :, 0, -1] == 0) and np.all(grad[:, :, 1, :, -1] == 0)
    np.testing.assert_allclose(np.sum(grad * g), np.sum(x * cs.image_gradient_adjoint(g, shape)))
    np.testing.assert_allclose(cs.image_gradient_adjoint(grad, shape),
                               x @ cs.gradient_gram(shape), atol=1e-12)


@pytest.mark.parametrize("mu", [1.0, 1e3, 1e6])
def test_tv_x_step_dct_and_dense_solve_the_same_system(rng, mu):
    shape, m = (6, 8), 30
    v = rng.standard_normal((4, 96))
    dense = cs.TotalVariation(shape, m, x_step="dense")
    dct = cs.TotalVariation(shape, m, x_step="dct")
    p = mu * dense.matrix.T @ dense.matrix + dense.beta * cs.gradient_gram(shape)
    ref = np.linalg.solve(p, v.T).T
    scale = np.abs(ref).max()
    for tv, tol in ((dct, 1e-4), (dense, 2e-3)):  # dense in float32 (rounding of P^-1)
        got = tv.solve_p(v.astype(np.float32), mu)
        assert np.abs(got - ref).max() < tol * scale, (tv.x_step, mu)


def test_tv_x_steps_agree_end_to_end(rng):
    h = piecewise_constant_ad(rng, 4, 16, 16)
    out = [cs.TotalVariation((16, 16), 120, mu=1e3, x_step=s).compress(h)[0]
           for s in ("dense", "dct")]
    assert abs(nmse_db(h, out[0]) - nmse_db(h, out[1])) < 0.05
    assert cs.TotalVariation((16, 16), 300).x_step == "dense"  # 2 (M + 2) > N: dense


def test_lasso_more_iterations_do_not_change_a_converged_result(rng):
    h = sparse_ad(rng, 4, 6, 16, 16)
    a = cs.Lasso((16, 16), 128, alpha=1e-2).compress(h)[0]
    b = cs.Lasso((16, 16), 128, alpha=1e-2, iterations=1000).compress(h)[0]
    assert abs(nmse_db(h, a) - nmse_db(h, b)) < 0.1


# -- bits -----------------------------------------------------------------------------------------
SMALL = {"lasso": {"alpha": 1e-3}, "tv": {"mu": 1e3}, "omp": {"sparsity": 6}}


@pytest.mark.parametrize("kind", ["lasso", "tv", "omp"])
@pytest.mark.parametrize("bits_per", [32, 5])
def test_payload_equals_the_bitstream_and_bits_round_trip(rng, kind, bits_per):
    h = sparse_ad(rng, 6, 4, 8, 8)
    bl = cs.for_payload(kind, 32 + 40 * bits_per + 3, (8, 8), 7, measurement_bits=bits_per,
                        **SMALL[kind])
    assert bl.m == 40 and bl.payload_bits == 32 + 40 * bits_per
    report = bl.encode(h)
    stream = bl.to_bits(report)
    assert all(s.dtype == np.uint8 and s.size == bl.payload_bits for s in stream)
    back = bl.from_bits(stream)
    assert back.keys() == report.keys()
    for key in report:
        np.testing.assert_array_equal(back[key], report[key])
    h_counted, counted = bl.compress(h)
    h_sent, measured = bl.compress(h, via_bits=True)
    np.testing.assert_array_equal(counted, bl.payload_bits)
    np.testing.assert_array_equal(measured, counted)
    np.testing.assert_array_equal(h_sent, h_counted)
    assert h_sent.dtype == np.complex64 and h_sent.shape == h.shape
    if bits_per == 32:  # float32 measurements: the bit patterns of A x / ||x||
        x, norm = bl.unit_vectors(h)
        np.testing.assert_array_equal(report["scale"], norm)
        np.testing.assert_array_equal(bl.measurements(report),
                                      (x @ bl.matrix.T).astype(np.float32))
    else:
        assert report["q"].min() >= 0 and report["q"].max() < 2 ** bits_per


def test_bitstream_of_the_wrong_length_is_refused(rng):
    bl = cs.Lasso((4, 4), 8, alpha=0.01)
    stream = bl.to_bits(bl.encode(sparse_ad(rng, 2, 3, 4, 4)))
    with pytest.raises(LinksimInputError, match="shorter"):
        bl.from_bits([s[:-1] for s in stream])
    with pytest.raises(LinksimInputError, match="longer"):
        bl.from_bits([np.append(s, 0) for s in stream])


def test_quantised_measurements_degrade_gracefully(rng):
    """More bits per measurement, lower NMSE (same M; alpha and the quantiser range fitted):
    about 5 dB per bit here; float32 measurements best."""
    h_train, h = sparse_ad(rng, 40, 8, 16, 16), sparse_ad(rng, 20, 8, 16, 16)
    fast = {"iterations": 150, "path_iterations": 20, "fit_samples": 30}
    curve = []
    for bits_per in (2, 4, 6, 8):
        bl = cs.Lasso((16, 16), 128, measurement_bits=bits_per, **fast).fit(h_train)
        curve.append(nmse_db(h, bl.compress(h)[0]))
    curve.append(nmse_db(h, cs.Lasso((16, 16), 128, alpha=1e-4, iterations=150).compress(h)[0]))
    assert np.all(np.diff(curve) < -3), curve
    assert curve[0] < -3  # 2 bits still beat sending nothing


def test_fitted_half_range_is_near_the_gaussian_optimum(rng):
    """``A x / ||x||`` is N(0, 1/M) whatever x: the fitted range stays near the Gaussian
    optimum of the constructor."""
    bl = cs.OMP((16, 16), 64, measurement_bits=3, sparsity=4)
    before = bl.half_range
    bl.fit(sparse_ad(rng, 200, 10, 16, 16))
    assert 0.7 < bl.half_range / before < 1.45
    assert bl.sparsity == 4 and bl.fit_nmse_db is None  # given: not searched


# -- sizing, factory and fitting ----------------------------------------------------------------
def test_for_payload_sizing():
    bl = cs.for_payload("lasso", 16416, (32, 32), 0)
    assert isinstance(bl, cs.Lasso) and bl.m == 512 and bl.compression_ratio == 4
    assert bl.payload_bits == 16416 and bl.matrix.shape == (512, 2048)
    assert cs.for_payload("omp", 16416 + 31, (32, 32), 0).m == 512  # leftover bits unused
    assert cs.for_payload("tv", 32 + 4 * 100 + 3, (32, 32), 0, measurement_bits=4).m == 100
    assert cs.for_payload("lasso", 32 + 2048 * 32, (32, 32), 0).m == 2048  # M = N allowed
    assert cs.Lasso.for_payload(64, (2, 2), measurement_bits=8).m == 4
    with pytest.raises(LinksimInputError, match="below one measurement"):
        cs.for_payload("lasso", 63, (32, 32), 0)
    with pytest.raises(LinksimInputError, match="more than the N = 2048"):
        cs.for_payload("tv", 32 + 2049 * 32, (32, 32), 0)
    with pytest.raises(LinksimInputError, match="kind"):
        cs.for_payload("bp", 16416, (32, 32), 0)


def test_measurement_matrix_is_fixed_by_the_seed():
    a = cs.Lasso((8, 8), 32, seed=3).matrix
    np.testing.assert_array_equal(a, cs.OMP((8, 8), 32, seed=3).matrix)  # UE and BS alike
    np.testing.assert_array_equal(a, np.random.default_rng(3).standard_normal((32, 128))
                                  / np.sqrt(32))
    assert not np.array_equal(a, cs.Lasso((8, 8), 32, seed=4).matrix)
    big = cs.Lasso((16, 16), 256).matrix
    assert abs(big.var() * 256 - 1) < 0.02


def test_fitted_alpha_is_on_the_grid_and_deterministic(rng):
    h_train = sparse_ad(rng, 40, 10, 16, 16)
    fitted = [cs.for_payload("lasso", 32 + 128 * 6, (16, 16), 5, measurement_bits=6,
                             fit_samples=25, iterations=150, path_iterations=20).fit(h_train)
              for _ in range(2)]
    a = fitted[0].alpha
    assert a in cs.Lasso.ALPHA_GRID and a == fitted[1].alpha
    assert fitted[0].fit_nmse_db == fitted[1].fit_nmse_db
    assert len(fitted[0].fit_nmse_db) == len(cs.Lasso.ALPHA_GRID)  # the whole path
    assert fitted[0].fit_nmse_db[a] == min(fitted[0].fit_nmse_db.values())
    d = fitted[0].describe()
    assert d["name"] == "lasso" and d["alpha"] == a and d["num_measurements"] == 128
    assert d["measurement_bits"] == 6 and d["seed"] == 5 and d["iterations"] == 150
    assert d["payload_bits"] == 32 + 128 * 6 and "half_range" in d


def test_fitted_mu_and_sparsity_are_on_their_grids(rng):
    h_pwc = piecewise_constant_ad(rng, 12, 8, 8)
    tv = cs.TotalVariation((8, 8), 48, iterations=60, fit_samples=8).fit(h_pwc)
    assert tv.mu in cs.TotalVariation.MU_GRID
    searched = sorted(tv.fit_nmse_db)
    assert len(searched) < len(cs.TotalVariation.MU_GRID)  # coarse to fine
    assert tv.fit_nmse_db[tv.mu] == min(tv.fit_nmse_db.values())
    assert tv.describe()["mu"] == tv.mu and tv.describe()["coupling"] == "separate"
    omp = cs.OMP((8, 8), 48, complex_groups=True).fit(sparse_ad(rng, 20, 3, 8, 8))
    assert omp.sparsity in omp.default_grid() and 2 * max(omp.default_grid()) <= 48 // 2
    assert omp.describe()["sparsity"] == omp.sparsity
    assert nmse_db(h_pwc, tv.compress(h_pwc)[0]) < nmse_db(
        h_pwc, cs.TotalVariation((8, 8), 48, mu=1.0).compress(h_pwc)[0])


# -- input errors ---------------------------------------------------------------------------------
def test_bad_input_names_the_option(rng):
    with pytest.raises(LinksimInputError, match="measurement_bits"):
        cs.Lasso((8, 8), 10, measurement_bits=17)
    with pytest.raises(LinksimInputError, match="measurement_bits"):
        cs.for_payload("omp", 1000, (8, 8), 0, measurement_bits=0)
    with pytest.raises(LinksimInputError, match="num_measurements"):
        cs.Lasso((8, 8), 129)
    with pytest.raises(LinksimInputError, match="alpha"):
        cs.Lasso((8, 8), 10, alpha=1.5)
    with pytest.raises(LinksimInputError, match="alpha"):
        cs.Lasso((8, 8), 10, alpha=-1.0)
    with pytest.raises(LinksimInputError, match="penalty"):
        cs.Lasso((8, 8), 10, penalty="l2")
    with pytest.raises(LinksimInputError, match="iterations"):
        cs.Lasso((8, 8), 10, iterations=0)
    with pytest.raises(LinksimInputError, match="coupling"):
        cs.TotalVariation((8, 8), 10, coupling="both")
    with pytest.raises(LinksimInputError, match="relaxation"):
        cs.TotalVariation((8, 8), 10, relaxation=2.0)
    with pytest.raises(LinksimInputError, match="x_step"):
        cs.TotalVariation((8, 8), 10, x_step="cg")
    with pytest.raises(LinksimInputError, match="mu"):
        cs.TotalVariation((8, 8), 10, mu=0)
    with pytest.raises(LinksimInputError, match="sparsity"):
        cs.OMP((8, 8), 10, sparsity=6, complex_groups=True)  # 12 columns > M = 10
    with pytest.raises(LinksimInputError, match="seed"):
        cs.OMP((8, 8), 10, seed=-1)
    with pytest.raises(LinksimInputError, match="shape"):
        cs.OMP((8,), 10)
    with pytest.raises(LinksimInputError, match=r"shape \[b, 8, 8\]"):
        cs.OMP((8, 8), 10, sparsity=2).compress(sparse_ad(rng, 2, 3, 4, 16))
    with pytest.raises(LinksimInputError, match="h_train"):
        cs.OMP((8, 8), 10).fit(sparse_ad(rng, 2, 3, 4, 16))
    with pytest.raises(RuntimeError, match="call fit"):
        cs.Lasso((8, 8), 10).compress(sparse_ad(rng, 2, 3, 8, 8))


def test_blas_threads_are_limited_and_restored():
    from threadpoolctl import threadpool_info

    def blas():
        return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]

    before = blas()
    with cs.blas_threads(1):
        assert all(n == 1 for n in blas())
    assert blas() == before
    with cs.blas_threads(None):
        assert blas() == before


def test_zero_channel_is_sent_as_zero(rng):
    h = np.zeros((2, 8, 8), np.complex64)
    for kind, opts in SMALL.items():
        h_hat, bits = cs.for_payload(kind, 32 + 40 * 32, (8, 8), 0, **opts).compress(h)
        assert np.all(h_hat == 0) and np.all(bits == 32 + 40 * 32)


# -- benchmarks/cs_recovery.py (importable for calibration) --------------------------------------
def test_cs_recovery_functions(rng, tmp_path):
    from benchmarks import cs_recovery as bench

    h = sparse_ad(rng, 6, 3, 8, 8)
    np.save(tmp_path / "h.npy", h)
    h_loaded = bench.load_channels(npy=tmp_path / "h.npy", n=5)
    np.testing.assert_array_equal(h_loaded, h[:5])
    with pytest.raises(LinksimInputError, match="exactly one"):
        bench.load_channels(env="indoor_5.3GHz", npy=tmp_path / "h.npy")
    assert bench.num_measurements((8, 8), 4) == 32
    nmse, alpha = bench.lasso_nmse(h, 4, alphas=[1e-1, 1e-3], iterations=200)
    curve = bench.recovery_curve("lasso", h, 4, [1e-1, 1e-3], iterations=200)
    assert alpha == 1e-3 and nmse == curve[1e-3] < curve[1e-1]
    nmse_k, k = bench.omp_nmse(h, 4, sparsities=[2, 6])
    assert k == 6 and nmse_k < -40
    nmse_tv, mu = bench.tv_nmse(h, 4, mus=[10.0], iterations=20)
    assert mu == 10.0 and np.isfinite(nmse_tv)
    rows = bench.run(h, [4], ["omp"], echo=lambda s: None)
    assert rows[0]["method"] == "omp" and rows[0]["m"] == 32
    assert "| 4 | 32 |" in bench.table(rows, "indoor")
