"""mimickit.util.rotations checked against scipy.spatial.transform (independent reference).

Quaternions are (x, y, z, w) in both libraries. Random inputs use fixed seeds.
"""
import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation, Slerp

from mimickit.util import rotations as rot

N = 2000
# (dtype, tolerance for quaternion / vector components)
DTYPES = [(torch.float64, 1e-10), (torch.float32, 2e-6)]
DTYPE_IDS = ["float64", "float32"]
ORDERS = ["XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"]


def rand_rots(n, seed):
    return Rotation.random(n, random_state=seed)


def t(x, dtype):
    return torch.as_tensor(np.asarray(x), dtype=dtype)


def rot_angle(q_a, q_b):
    """Angle (rad) between two batches of rotations given as xyzw quaternions (numpy, float64)."""
    ra = Rotation.from_quat(np.asarray(q_a, dtype=np.float64))
    rb = Rotation.from_quat(np.asarray(q_b, dtype=np.float64))
    return (ra.inv() * rb).magnitude()


def assert_same_quat_up_to_sign(q, q_ref, atol):
    q = np.asarray(q, dtype=np.float64)
    q_ref = np.asarray(q_ref, dtype=np.float64)
    sign = np.where(np.sum(q * q_ref, axis=-1, keepdims=True) < 0, -1.0, 1.0)
    np.testing.assert_allclose(q * sign, q_ref, atol=atol, rtol=0)


def axes_for(order, signs=(1.0, 1.0, 1.0)):
    axes = torch.zeros(3, 3, dtype=torch.float64)
    for row, (ch, s) in enumerate(zip(order, signs)):
        axes[row, "XYZ".index(ch)] = s
    return axes


# ---------------------------------------------------------------- basics

@pytest.mark.parametrize("dtype,tol", DTYPES, ids=DTYPE_IDS)
def test_quat_mul_matches_scipy_composition(dtype, tol):
    ra, rb = rand_rots(N, 1), rand_rots(N, 2)
    q = rot.quat_mul(t(ra.as_quat(), dtype), t(rb.as_quat(), dtype))
    assert q.shape == (N, 4) and q.dtype == dtype
    assert_same_quat_up_to_sign(q.numpy(), (ra * rb).as_quat(), atol=tol)


@pytest.mark.parametrize("dtype,tol", DTYPES, ids=DTYPE_IDS)
def test_quat_rotate_matches_scipy_apply(dtype, tol):
    r = rand_rots(N, 3)
    v = np.random.default_rng(3).normal(size=(N, 3)) * 2.0
    out = rot.quat_rotate(t(r.as_quat(), dtype), t(v, dtype))
    np.testing.assert_allclose(out.numpy(), r.apply(v), atol=10 * tol, rtol=0)
    out_inv = rot.quat_rotate_inverse(t(r.as_quat(), dtype), t(v, dtype))
    np.testing.assert_allclose(out_inv.numpy(), r.inv().apply(v), atol=10 * tol, rtol=0)


def test_quat_rotate_broadcasts_over_batch_dims():
    r = rand_rots(12, 4)
    v = np.random.default_rng(4).normal(size=(12, 3))
    out = rot.quat_rotate(t(r.as_quat(), torch.float64).reshape(3, 4, 4), t(v, torch.float64).reshape(3, 4, 3))
    np.testing.assert_allclose(out.reshape(12, 3).numpy(), r.apply(v), atol=1e-12)


def test_conjugate_identity_normalize_positive():
    r = rand_rots(N, 5)
    q = t(r.as_quat(), torch.float64)
    assert_same_quat_up_to_sign(rot.quat_conjugate(q).numpy(), r.inv().as_quat(), atol=1e-12)
    ident = rot.quat_identity((2, 3), dtype=torch.float64)
    assert ident.shape == (2, 3, 4)
    np.testing.assert_array_equal(ident.reshape(-1, 4).numpy(), np.tile([0.0, 0.0, 0.0, 1.0], (6, 1)))
    scaled = q * torch.linspace(0.1, 7.0, N, dtype=torch.float64)[:, None]
    np.testing.assert_allclose(rot.quat_normalize(scaled).numpy(), q.numpy(), atol=1e-12)
    pos = rot.quat_positive(-q)
    assert bool((pos[:, 3] >= 0).all())
    assert_same_quat_up_to_sign(pos.numpy(), q.numpy(), atol=0)


def test_axis_angle_roundtrip_matches_scipy():
    rng = np.random.default_rng(6)
    axis = rng.normal(size=(N, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    angle = rng.uniform(0.0, math.pi, size=N)
    q = rot.axis_angle_to_quat(t(axis, torch.float64), t(angle, torch.float64))
    assert_same_quat_up_to_sign(q.numpy(), Rotation.from_rotvec(axis * angle[:, None]).as_quat(), atol=1e-12)
    axis_back, angle_back = rot.quat_to_axis_angle(q)
    np.testing.assert_allclose(angle_back.numpy(), angle, atol=1e-10)
    np.testing.assert_allclose(axis_back.numpy(), axis, atol=1e-8)
    # zero rotation: angle 0 and the documented default axis x
    axis0, angle0 = rot.quat_to_axis_angle(rot.quat_identity((1,), dtype=torch.float64))
    assert float(angle0[0]) == 0.0
    np.testing.assert_array_equal(axis0[0].numpy(), [1.0, 0.0, 0.0])


# ---------------------------------------------------------------- exp map

@pytest.mark.parametrize("dtype,tol", DTYPES, ids=DTYPE_IDS)
def test_exp_map_to_quat_matches_scipy(dtype, tol):
    rv = rand_rots(N, 7).as_rotvec()  # angles in [0, pi]
    q = rot.exp_map_to_quat(t(rv, dtype))
    assert_same_quat_up_to_sign(q.numpy(), Rotation.from_rotvec(rv).as_quat(), atol=tol)


@pytest.mark.parametrize("dtype,tol", DTYPES, ids=DTYPE_IDS)
def test_quat_to_exp_map_matches_scipy(dtype, tol):
    r = rand_rots(N, 8)
    q = r.as_quat()
    q[::2] *= -1.0  # both signs of the same rotation
    e = rot.quat_to_exp_map(t(q, dtype))
    np.testing.assert_allclose(e.numpy(), r.as_rotvec(), atol=20 * tol, rtol=0)
    assert bool((torch.linalg.norm(e.double(), dim=-1) <= math.pi + 1e-6).all())


def test_exp_map_beyond_pi_is_the_same_rotation():
    rng = np.random.default_rng(9)
    axis = rng.normal(size=(500, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    rv = axis * rng.uniform(math.pi, 4 * math.pi, size=(500, 1))
    q = rot.exp_map_to_quat(t(rv, torch.float64))
    assert np.max(rot_angle(q.numpy(), Rotation.from_rotvec(rv).as_quat())) < 1e-9
    e = rot.quat_to_exp_map(q)
    assert bool((torch.linalg.norm(e, dim=-1) <= math.pi + 1e-9).all())
    assert np.max(rot_angle(rot.exp_map_to_quat(e).numpy(), q.numpy())) < 1e-9


@pytest.mark.parametrize("angle", [0.0, 1e-12, 1e-9, 1e-7, 1e-5])
def test_exp_map_tiny_angles(angle):
    rng = np.random.default_rng(10)
    axis = rng.normal(size=(200, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    rv = axis * angle
    q = rot.exp_map_to_quat(t(rv, torch.float64))
    ref = Rotation.from_rotvec(rv).as_quat()
    assert not bool(torch.isnan(q).any())
    # the vector part is ~angle/2: check it with a relative tolerance
    np.testing.assert_allclose(q.numpy()[:, :3], ref[:, :3], rtol=1e-9, atol=1e-300)
    np.testing.assert_allclose(q.numpy()[:, 3], ref[:, 3], atol=1e-15)
    e = rot.quat_to_exp_map(t(ref, torch.float64))
    assert not bool(torch.isnan(e).any())
    np.testing.assert_allclose(e.numpy(), rv, rtol=1e-9, atol=1e-300)
    # float32 too
    e32 = rot.quat_to_exp_map(t(ref, torch.float32))
    q32 = rot.exp_map_to_quat(t(rv, torch.float32))
    np.testing.assert_allclose(e32.numpy(), rv, rtol=1e-5, atol=1e-30)
    np.testing.assert_allclose(q32.numpy()[:, :3], ref[:, :3], rtol=1e-5, atol=1e-30)


@pytest.mark.parametrize("eps", [1e-3, 1e-5, 1e-7])
def test_exp_map_near_pi(eps):
    rng = np.random.default_rng(11)
    axis = rng.normal(size=(300, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    rv = axis * (math.pi - eps)
    q = rot.exp_map_to_quat(t(rv, torch.float64))
    ref = Rotation.from_rotvec(rv).as_quat()
    assert_same_quat_up_to_sign(q.numpy(), ref, atol=1e-12)
    # w = cos((pi - eps) / 2) > 0 here, so the exp map is unique: compare directly
    e = rot.quat_to_exp_map(t(ref, torch.float64))
    np.testing.assert_allclose(e.numpy(), Rotation.from_quat(ref).as_rotvec(), atol=1e-9, rtol=0)
    np.testing.assert_allclose(e.numpy(), rv, atol=1e-9, rtol=0)
    # the opposite sign of the quaternion gives the same exp map
    e_neg = rot.quat_to_exp_map(t(-ref, torch.float64))
    np.testing.assert_allclose(e_neg.numpy(), rv, atol=1e-9, rtol=0)


def test_exp_map_exactly_pi():
    rng = np.random.default_rng(12)
    axis = rng.normal(size=(300, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    q = np.concatenate([axis, np.zeros((300, 1))], axis=-1)  # angle exactly pi
    e = rot.quat_to_exp_map(t(q, torch.float64)).numpy()
    np.testing.assert_allclose(np.linalg.norm(e, axis=-1), math.pi, atol=1e-12)
    # axis is +-axis (both are the same rotation at pi)
    assert np.all(np.abs(np.abs(np.sum(e / math.pi * axis, axis=-1)) - 1.0) < 1e-12)
    assert np.max(rot_angle(Rotation.from_rotvec(e).as_quat(), q)) < 1e-9


# ---------------------------------------------------------------- matrices

@pytest.mark.parametrize("dtype,tol", DTYPES, ids=DTYPE_IDS)
def test_quat_to_matrix_matches_scipy(dtype, tol):
    r = rand_rots(N, 13)
    m = rot.quat_to_matrix(t(r.as_quat(), dtype))
    assert m.shape == (N, 3, 3)
    np.testing.assert_allclose(m.numpy(), r.as_matrix(), atol=10 * tol, rtol=0)


@pytest.mark.parametrize("dtype,tol", DTYPES, ids=DTYPE_IDS)
def test_matrix_to_quat_matches_scipy(dtype, tol):
    r = rand_rots(N, 14)
    q = rot.matrix_to_quat(t(r.as_matrix(), dtype))
    assert bool((q[:, 3] >= 0).all())
    assert_same_quat_up_to_sign(q.numpy(), r.as_quat(), atol=10 * tol)


def _near_half_turn_rotations(seed):
    rng = np.random.default_rng(seed)
    n = 600
    axis = rng.normal(size=(n, 3))
    # include the coordinate axes and axes in coordinate planes (several equal diagonal terms)
    axis[:3] = np.eye(3)
    axis[3:6] = [[1, 1, 0], [0, 1, -1], [1, 0, 1]]
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    angle = np.full(n, math.pi)
    angle[n // 2:] = math.pi - 10.0 ** rng.uniform(-8, -2, size=n - n // 2)
    return Rotation.from_rotvec(axis * angle[:, None])


@pytest.mark.parametrize("dtype,tol", DTYPES, ids=DTYPE_IDS)
def test_matrix_to_quat_trace_near_minus_one(dtype, tol):
    r = _near_half_turn_rotations(15)
    mats = r.as_matrix()
    assert np.all(np.trace(mats, axis1=-2, axis2=-1) < -1 + 1e-3)
    q = rot.matrix_to_quat(t(mats, dtype))
    assert not bool(torch.isnan(q).any())
    np.testing.assert_allclose(torch.linalg.norm(q.double(), dim=-1).numpy(), 1.0, atol=10 * tol)
    # w ~ 0 here, so the sign is ambiguous: compare up to sign, and as rotations
    assert_same_quat_up_to_sign(q.numpy(), r.as_quat(), atol=10 * tol)
    assert np.max(rot_angle(q.numpy(), r.as_quat())) < 100 * tol
    # the matrix of the result is the input matrix
    np.testing.assert_allclose(rot.quat_to_matrix(q).numpy(), mats, atol=20 * tol)


def test_matrix_roundtrip_batched_shape():
    r = rand_rots(24, 16)
    m = t(r.as_matrix(), torch.float64).reshape(2, 3, 4, 3, 3)
    q = rot.matrix_to_quat(m)
    assert q.shape == (2, 3, 4, 4)
    np.testing.assert_allclose(rot.quat_to_matrix(q).numpy(), m.numpy(), atol=1e-12)


# ---------------------------------------------------------------- slerp / angles

@pytest.mark.parametrize("dtype,tol", DTYPES, ids=DTYPE_IDS)
def test_quat_slerp_matches_scipy(dtype, tol):
    n = 300
    r0, r1 = rand_rots(n, 17), rand_rots(n, 18)
    q0, q1 = r0.as_quat(), r1.as_quat()
    ts = np.array([0.0, 0.1, 0.25, 0.5, 0.7, 0.9, 1.0])
    ref = np.stack([Slerp([0.0, 1.0], Rotation.from_quat([q0[i], q1[i]]))(ts).as_quat() for i in range(n)])
    q0_t = t(q0, dtype)[:, None].expand(n, len(ts), 4)
    q1_t = t(q1, dtype)[:, None].expand(n, len(ts), 4)
    tt = t(ts, dtype)[None].expand(n, len(ts))
    out = rot.quat_slerp(q0_t, q1_t, tt)
    err = rot_angle(out.reshape(-1, 4).numpy(), ref.reshape(-1, 4))
    assert np.max(err) < (1e-9 if dtype == torch.float64 else 1e-5)
    # t given as [..., 1] works the same
    out2 = rot.quat_slerp(q0_t, q1_t, tt[..., None])
    np.testing.assert_allclose(out2.numpy(), out.numpy(), atol=0)


def test_quat_slerp_endpoints_and_short_arc():
    n = 500
    q0 = t(rand_rots(n, 19).as_quat(), torch.float64)
    q1 = t(rand_rots(n, 20).as_quat(), torch.float64)
    zeros, ones = torch.zeros(n, dtype=torch.float64), torch.ones(n, dtype=torch.float64)
    np.testing.assert_allclose(rot.quat_slerp(q0, q1, zeros).numpy(), q0.numpy(), atol=1e-14, rtol=0)
    assert_same_quat_up_to_sign(rot.quat_slerp(q0, q1, ones).numpy(), q1.numpy(), atol=1e-14)
    # q1 with the opposite sign: the same rotations along the way (short arc)
    for tv in (0.2, 0.5, 0.8):
        tt = torch.full((n,), tv, dtype=torch.float64)
        a = rot.quat_slerp(q0, q1, tt)
        b = rot.quat_slerp(q0, -q1, tt)
        assert np.max(rot_angle(a.numpy(), b.numpy())) < 1e-9
        # on the short arc the rotation from q0 is t times the full relative rotation angle
        full = rot.quat_diff_angle(q0, q1)
        np.testing.assert_allclose(rot.quat_diff_angle(q0, b).numpy(), tv * full.numpy(), atol=1e-9)
        np.testing.assert_allclose(rot.quat_diff_angle(b, q1).numpy(), (1 - tv) * full.numpy(), atol=1e-9)


def test_quat_slerp_identical_and_nearly_identical_inputs():
    q0 = t(rand_rots(50, 21).as_quat(), torch.float64)
    small = Rotation.from_rotvec(np.random.default_rng(21).normal(size=(50, 3)) * 1e-9)
    q1 = t((Rotation.from_quat(q0.numpy()) * small).as_quat(), torch.float64)
    for other in (q0, q1, -q0):
        out = rot.quat_slerp(q0, other, torch.full((50,), 0.3, dtype=torch.float64))
        assert not bool(torch.isnan(out).any())
        assert np.max(rot_angle(out.numpy(), q0.numpy())) < 1e-8


def test_quat_angle_and_diff_angle_match_scipy():
    r0, r1 = rand_rots(N, 22), rand_rots(N, 23)
    q0, q1 = t(r0.as_quat(), torch.float64), t(r1.as_quat(), torch.float64)
    np.testing.assert_allclose(rot.quat_angle(q0).numpy(), r0.magnitude(), atol=1e-10)
    np.testing.assert_allclose(rot.quat_angle(-q0).numpy(), r0.magnitude(), atol=1e-10)
    np.testing.assert_allclose(rot.quat_diff_angle(q0, q1).numpy(), (r0.inv() * r1).magnitude(), atol=1e-10)
    np.testing.assert_allclose(rot.quat_diff_angle(q0, -q0).numpy(), 0.0, atol=1e-7)


# ---------------------------------------------------------------- heading / tan-norm

def test_calc_heading_of_pure_yaw():
    yaw = np.random.default_rng(24).uniform(-math.pi + 1e-6, math.pi - 1e-6, size=N)
    q = t(Rotation.from_euler("z", yaw[:, None]).as_quat(), torch.float64)
    np.testing.assert_allclose(rot.calc_heading(q).numpy(), yaw, atol=1e-10)
    q32 = q.float()
    np.testing.assert_allclose(rot.calc_heading(q32).numpy(), yaw, atol=1e-5)


def test_heading_ignores_roll_about_the_forward_axis():
    rng = np.random.default_rng(25)
    yaw = rng.uniform(-3.0, 3.0, size=N)
    roll = rng.uniform(-math.pi, math.pi, size=N)
    # rotating about the body x axis keeps the x axis, so the heading is the yaw
    q = t(Rotation.from_euler("ZX", np.stack([yaw, roll], -1)).as_quat(), torch.float64)
    np.testing.assert_allclose(rot.calc_heading(q).numpy(), yaw, atol=1e-10)
    hq = rot.heading_quat(q)
    assert_same_quat_up_to_sign(hq.numpy(), Rotation.from_euler("z", yaw[:, None]).as_quat(), atol=1e-10)
    # removing the heading leaves heading 0
    rest = rot.quat_mul(rot.heading_quat_inv(q), q)
    np.testing.assert_allclose(rot.calc_heading(rest).numpy(), 0.0, atol=1e-10)


@pytest.mark.parametrize("dtype,tol", DTYPES, ids=DTYPE_IDS)
def test_quat_to_tan_norm(dtype, tol):
    r = rand_rots(N, 26)
    tn = rot.quat_to_tan_norm(t(r.as_quat(), dtype))
    assert tn.shape == (N, 6)
    tan, norm = tn[:, :3].double(), tn[:, 3:].double()
    np.testing.assert_allclose(torch.linalg.norm(tan, dim=-1).numpy(), 1.0, atol=10 * tol)
    np.testing.assert_allclose(torch.linalg.norm(norm, dim=-1).numpy(), 1.0, atol=10 * tol)
    np.testing.assert_allclose((tan * norm).sum(-1).numpy(), 0.0, atol=10 * tol)
    mats = r.as_matrix()
    np.testing.assert_allclose(tan.numpy(), mats[:, :, 0], atol=10 * tol)  # rotated x axis
    np.testing.assert_allclose(norm.numpy(), mats[:, :, 2], atol=10 * tol)  # rotated z axis


def test_wrap_to_pi():
    x = torch.linspace(-20.0, 20.0, 4001, dtype=torch.float64)
    w = rot.wrap_to_pi(x)
    assert bool((w >= -math.pi).all()) and bool((w < math.pi + 1e-12).all())
    k = (x - w) / (2 * math.pi)
    np.testing.assert_allclose(k.numpy(), np.round(k.numpy()), atol=1e-9)
    inside = x.abs() < math.pi - 1e-9
    np.testing.assert_allclose(w[inside].numpy(), x[inside].numpy(), atol=1e-12)


# ---------------------------------------------------------------- hinge chains

def _euler_angles(n, seed, middle_max=math.pi / 2):
    rng = np.random.default_rng(seed)
    a = rng.uniform(-math.pi, math.pi, size=n)
    b = rng.uniform(-middle_max, middle_max, size=n)
    c = rng.uniform(-math.pi, math.pi, size=n)
    return np.stack([a, b, c], axis=-1)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("dtype,tol", DTYPES, ids=DTYPE_IDS)
def test_hinge_chain_to_quat_matches_scipy_intrinsic_euler(order, dtype, tol):
    ang = _euler_angles(N, 30, middle_max=math.pi)  # any angles are valid input
    q = rot.hinge_chain_to_quat(t(ang, dtype), axes_for(order).to(dtype))
    ref = Rotation.from_euler(order, ang).as_quat()  # uppercase: intrinsic
    assert_same_quat_up_to_sign(q.numpy(), ref, atol=10 * tol)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("signs", [(-1, 1, 1), (1, -1, 1), (1, 1, -1), (-1, -1, -1), (1, -1, -1)])
def test_hinge_chain_negative_axes(order, signs):
    ang = _euler_angles(500, 31, middle_max=math.pi)
    axes = axes_for(order, signs)
    q = rot.hinge_chain_to_quat(t(ang, torch.float64), axes)
    # a turn by t about -e is a turn by -t about +e
    ref = Rotation.from_euler(order, ang * np.asarray(signs, dtype=np.float64)).as_quat()
    assert_same_quat_up_to_sign(q.numpy(), ref, atol=1e-10)
    back = rot.quat_to_hinge_chain(q, axes)
    assert bool((back[:, 1].abs() <= math.pi / 2 + 1e-12).all())
    assert np.max(rot_angle(rot.hinge_chain_to_quat(back, axes).numpy(), q.numpy())) < 1e-6


@pytest.mark.parametrize("order", ORDERS)
def test_quat_to_hinge_chain_matches_scipy_as_euler(order):
    r = rand_rots(N, 32)
    ref = r.as_euler(order)  # middle angle in [-pi/2, pi/2]
    cos_mid = np.cos(ref[:, 1])
    keep = cos_mid > 1e-3  # away from gimbal lock the angles are unique
    ang = rot.quat_to_hinge_chain(t(r.as_quat(), torch.float64), axes_for(order)).numpy()
    diff = ang - ref
    diff = (diff + math.pi) % (2 * math.pi) - math.pi  # first/last angles are only defined mod 2 pi
    np.testing.assert_allclose(diff[keep], 0.0, atol=1e-8)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=DTYPE_IDS)
def test_hinge_roundtrip_random(order, dtype):
    r = rand_rots(N, 33)
    for signs in [(1, 1, 1), (-1, 1, -1), (1, -1, 1)]:
        axes = axes_for(order, signs).to(dtype)
        q = t(r.as_quat(), dtype)
        ang = rot.quat_to_hinge_chain(q, axes)
        assert ang.shape == (N, 3) and ang.dtype == dtype
        assert bool((ang[:, 1].abs() <= math.pi / 2 + 1e-6).all())
        assert bool((ang.abs() <= math.pi + 1e-6).all())
        err = rot_angle(rot.hinge_chain_to_quat(ang, axes).numpy(), q.numpy())
        if dtype == torch.float64:
            assert np.max(err) < 1e-6
        else:
            # float32: decompositions close to gimbal lock are ill conditioned, check the rest tightly
            cos_mid = np.cos(ang[:, 1].double().numpy())
            assert np.max(err[cos_mid > 0.05]) < 1e-5
            assert np.max(err) < 1e-2


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("signs", [(1, 1, 1), (-1, -1, 1)])
def test_hinge_roundtrip_exact_gimbal_lock(order, signs):
    rng = np.random.default_rng(34)
    n = 400
    ang = np.stack([rng.uniform(-math.pi, math.pi, n),
                    np.where(np.arange(n) % 2 == 0, math.pi / 2, -math.pi / 2),
                    rng.uniform(-math.pi, math.pi, n)], axis=-1)
    axes = axes_for(order, signs)
    q = rot.hinge_chain_to_quat(t(ang, torch.float64), axes)
    back = rot.quat_to_hinge_chain(q, axes)
    assert not bool(torch.isnan(back).any())
    np.testing.assert_allclose(back[:, 1].abs().numpy(), math.pi / 2, atol=1e-6)
    err = rot_angle(rot.hinge_chain_to_quat(back, axes).numpy(), q.numpy())
    assert np.max(err) < 1e-6
    # float32 too: rounding moves the middle angle off +-pi/2 by up to ~sqrt(float32 eps), where
    # asin-based decompositions lose ~1e-4 rad; check for the right branch and no NaNs
    q32 = q.float()
    back32 = rot.quat_to_hinge_chain(q32, axes.float())
    assert not bool(torch.isnan(back32).any())
    err32 = rot_angle(rot.hinge_chain_to_quat(back32, axes.float()).numpy(), q32.numpy())
    assert np.max(err32) < 2e-3


@pytest.mark.parametrize("order", ORDERS)
def test_hinge_roundtrip_near_gimbal_lock(order):
    """Middle angle a hair away from +-pi/2: the decomposition is still unique and float64
    has plenty of precision, so the roundtrip must stay accurate."""
    deltas = np.array([1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 3e-4])
    rows = []
    for d in deltas:
        for mid in (math.pi / 2 - d, -math.pi / 2 + d):
            rows.append([1.0, mid, 0.5])
            rows.append([-2.5, mid, 2.0])
    ang = np.asarray(rows)
    axes = axes_for(order)
    q = rot.hinge_chain_to_quat(t(ang, torch.float64), axes)
    back = rot.quat_to_hinge_chain(q, axes)
    err = rot_angle(rot.hinge_chain_to_quat(back, axes).numpy(), q.numpy())
    assert np.max(err) < 1e-6, "roundtrip error %.3g rad at middle angle pi/2 -+ %s" % (
        np.max(err), ang[np.argmax(err), 1])


def test_hinge_chain_batch_shape():
    ang = t(_euler_angles(24, 35), torch.float64).reshape(2, 3, 4, 3)
    axes = axes_for("ZXY")
    q = rot.hinge_chain_to_quat(ang, axes)
    assert q.shape == (2, 3, 4, 4)
    back = rot.quat_to_hinge_chain(q, axes)
    assert back.shape == (2, 3, 4, 3)
    np.testing.assert_allclose(back.numpy(), ang.numpy(), atol=1e-9)  # middle in (-pi/2, pi/2): unique


@pytest.mark.parametrize("bad_axes", [
    [[0.6, 0.8, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]],
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.7071067811865476, 0.7071067811865476]],
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 2.0]],
])
def test_non_coordinate_hinge_axis_raises(bad_axes):
    q = rot.quat_identity((3,), dtype=torch.float64)
    with pytest.raises(ValueError):
        rot.quat_to_hinge_chain(q, torch.tensor(bad_axes, dtype=torch.float64))


def test_repeated_hinge_axis_raises():
    q = rot.quat_identity((3,), dtype=torch.float64)
    with pytest.raises(ValueError):
        rot.quat_to_hinge_chain(q, torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [-1.0, 0, 0]]))
