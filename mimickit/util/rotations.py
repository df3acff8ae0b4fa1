"""Rotation math on batched torch tensors.

Conventions used across MimicKit:
- quaternions are ``[..., 4]`` in (x, y, z, w) order, scalar last (like scipy and Isaac Gym);
  MuJoCo's (w, x, y, z) order is converted only at the engine boundary.
- exponential maps are ``[..., 3]``: rotation axis times angle (radians), angle in [0, pi].
- rotation matrices are ``[..., 3, 3]`` and act on column vectors.
- hinge chains (three hinges in one MJCF body) are intrinsic: q = q(a1, t1) * q(a2, t2) * q(a3, t3).
"""
import torch

_EPS = 1e-8

# Small constant tensors, built once per (device, dtype) and reused: a Python list turned into a
# tensor on every call would cost an allocation and, on the GPU, a host-to-device copy per call.
_CONST_VALUES = {
    "conj": [-1.0, -1.0, -1.0, 1.0],
    "x": [1.0, 0.0, 0.0],
    "z": [0.0, 0.0, 1.0],
    "basis": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
    "tan_norm": [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]],  # the axes quat_to_tan_norm rotates
}
_CONSTS = {}


def const(name, like):
    """The constant ``name`` of _CONST_VALUES on like's device, in like's dtype."""
    key = (name, like.device, like.dtype)
    t = _CONSTS.get(key)
    if t is None:
        t = _CONSTS[key] = torch.tensor(_CONST_VALUES[name], dtype=like.dtype, device=like.device)
    return t


def like(t, ref):
    """t in ref's dtype and device; no op at all (not even a no-op ``to``) when they already match."""
    return t if (t.dtype == ref.dtype and t.device == ref.device) else t.to(ref)


def quat_normalize(q):
    return q / torch.linalg.norm(q, dim=-1, keepdim=True).clamp_min(_EPS)


def quat_positive(q):
    """Same rotation with w >= 0 (a canonical sign)."""
    return torch.where(q[..., 3:4] < 0, -q, q)


def quat_identity(shape, device=None, dtype=torch.float32):
    q = torch.zeros(tuple(shape) + (4,), device=device, dtype=dtype)
    q[..., 3] = 1.0
    return q


def quat_conjugate(q):
    return q * const("conj", q)


def quat_mul(a, b):
    """Hamilton product a * b (apply b first, then a); a and b broadcast against each other.

    Vector form (a_w b_v + b_w a_v + a_v x b_v, a_w b_w - a_v . b_v): about a third of the kernels of
    the component-wise formula, which matters on the GPU where each is a launch."""
    av, aw = a[..., :3], a[..., 3:]
    bv, bw = b[..., :3], b[..., 3:]
    if av.dim() != bv.dim():  # torch.cross broadcasts sizes but not a missing leading dim
        av, bv = torch.broadcast_tensors(av, bv)
    v = aw * bv + bw * av + torch.cross(av, bv, dim=-1)
    w = aw * bw - (av * bv).sum(-1, keepdim=True)
    return torch.cat([v, w], dim=-1)


def quat_rotate(q, v):
    """Rotate vectors v [..., 3] by unit quaternions q [..., 4]; q and v broadcast."""
    u = q[..., :3]
    w = q[..., 3:]
    if u.dim() != v.dim():  # torch.cross broadcasts sizes but not a missing leading dim
        u, v = torch.broadcast_tensors(u, v)
    t = torch.cross(u, v, dim=-1)
    t = t + t  # 2 (u x v), exactly; cheaper than a Python-scalar product on the per-step path
    return v + w * t + torch.cross(u, t, dim=-1)


def quat_rotate_inverse(q, v):
    return quat_rotate(quat_conjugate(q), v)


def axis_angle_to_quat(axis, angle):
    """axis [..., 3] (unit), angle [...] -> quat [..., 4]."""
    half = 0.5 * angle.unsqueeze(-1)
    return torch.cat([axis * torch.sin(half), torch.cos(half)], dim=-1)


def quat_to_axis_angle(q):
    """-> (axis [..., 3], angle [...]) with angle in [0, pi]; axis is x when the angle is 0."""
    q = quat_positive(quat_normalize(q))
    sin_half = torch.linalg.norm(q[..., :3], dim=-1)
    angle = 2.0 * torch.atan2(sin_half, q[..., 3])
    default_axis = torch.zeros_like(q[..., :3])
    default_axis[..., 0] = 1.0
    small = (sin_half < _EPS).unsqueeze(-1)
    axis = torch.where(small, default_axis, q[..., :3] / sin_half.clamp_min(_EPS).unsqueeze(-1))
    return axis, angle


def exp_map_to_quat(e):
    """exp map [..., 3] -> quat [..., 4]; accurate near zero through sinc."""
    angle = torch.linalg.norm(e, dim=-1, keepdim=True)
    half = 0.5 * angle
    # sin(half) / angle = 0.5 * sinc(half / pi) with torch's normalized sinc
    scale = 0.5 * torch.sinc(half / torch.pi)
    return torch.cat([e * scale, torch.cos(half)], dim=-1)


def quat_to_exp_map(q):
    """quat [..., 4] -> exp map [..., 3] with angle in [0, pi]."""
    q = quat_positive(quat_normalize(q))
    sin_half = torch.linalg.norm(q[..., :3], dim=-1, keepdim=True)
    angle = 2.0 * torch.atan2(sin_half, q[..., 3:])
    # angle / sin(half): stable near zero, where it tends to 2
    scale = torch.where(sin_half > 1e-6, angle / sin_half.clamp_min(1e-12), 2.0 + angle * angle / 12.0)
    return q[..., :3] * scale


# entry (row, col) of the rotation matrix of a unit quaternion (x, y, z, w)
_MATRIX_ENTRY = {
    (0, 0): lambda x, y, z, w: 1 - 2 * (y * y + z * z), (0, 1): lambda x, y, z, w: 2 * (x * y - z * w),
    (0, 2): lambda x, y, z, w: 2 * (x * z + y * w), (1, 0): lambda x, y, z, w: 2 * (x * y + z * w),
    (1, 1): lambda x, y, z, w: 1 - 2 * (x * x + z * z), (1, 2): lambda x, y, z, w: 2 * (y * z - x * w),
    (2, 0): lambda x, y, z, w: 2 * (x * z - y * w), (2, 1): lambda x, y, z, w: 2 * (y * z + x * w),
    (2, 2): lambda x, y, z, w: 1 - 2 * (x * x + y * y),
}


def quat_to_matrix(q):
    q = quat_normalize(q)
    xyzw = q.unbind(-1)
    m = torch.stack([_MATRIX_ENTRY[(r, c)](*xyzw) for r in range(3) for c in range(3)], dim=-1)
    return m.reshape(q.shape[:-1] + (3, 3))


def matrix_to_quat(m):
    """Rotation matrix [..., 3, 3] -> quat [..., 4] (w >= 0), branch-free over the batch."""
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    # four candidate solutions, each well conditioned where its diagonal term is largest
    cands = torch.stack([
        torch.stack([1 + m00 - m11 - m22, m01 + m10, m02 + m20, m21 - m12], dim=-1),
        torch.stack([m01 + m10, 1 - m00 + m11 - m22, m12 + m21, m02 - m20], dim=-1),
        torch.stack([m02 + m20, m12 + m21, 1 - m00 - m11 + m22, m10 - m01], dim=-1),
        torch.stack([m21 - m12, m02 - m20, m10 - m01, 1 + m00 + m11 + m22], dim=-1),
    ], dim=-2)  # [..., 4, 4]
    diag = torch.stack([m00 - m11 - m22, -m00 + m11 - m22, -m00 - m11 + m22, m00 + m11 + m22], dim=-1)
    best = diag.argmax(dim=-1, keepdim=True)
    q = torch.gather(cands, -2, best.unsqueeze(-1).expand(best.shape[:-1] + (1, 4))).squeeze(-2)
    return quat_positive(quat_normalize(q))


def quat_slerp(q0, q1, t):
    """Spherical interpolation; t is [...] or [..., 1]. Takes the short arc."""
    if t.dim() == q0.dim() - 1:
        t = t.unsqueeze(-1)
    cos_half = (q0 * q1).sum(dim=-1, keepdim=True)
    q1 = torch.where(cos_half < 0, -q1, q1)
    cos_half = cos_half.abs().clamp(max=1.0)
    half = torch.acos(cos_half)
    sin_half = torch.sin(half)
    linear = sin_half < 1e-6
    safe_sin = torch.where(linear, torch.ones_like(sin_half), sin_half)
    w0 = torch.where(linear, 1.0 - t, torch.sin((1.0 - t) * half) / safe_sin)
    w1 = torch.where(linear, t, torch.sin(t * half) / safe_sin)
    return quat_normalize(w0 * q0 + w1 * q1)


def quat_angle(q):
    """Rotation angle in [0, pi] of each quaternion."""
    q = quat_normalize(q)
    return 2.0 * torch.atan2(torch.linalg.norm(q[..., :3], dim=-1), q[..., 3].abs())


def quat_diff_angle(q0, q1):
    """Angle of the rotation that takes q0 to q1."""
    return quat_angle(quat_mul(q1, quat_conjugate(q0)))


def quat_to_tan_norm(q):
    """6D encoding: the rotated x (tangent) and z (normal) axes, concatenated [..., 6]."""
    return quat_rotate(q.unsqueeze(-2), const("tan_norm", q)).flatten(-2)  # both axes in one rotate


def calc_heading(q):
    """Yaw angle (about world z) of the rotated x axis [...]."""
    d = quat_rotate(q, const("x", q))
    return torch.atan2(d[..., 1], d[..., 0])


def heading_quat(q):
    """Rotation about z by the heading of q."""
    return axis_angle_to_quat(const("z", q), calc_heading(q))


def heading_quat_inv(q):
    return quat_conjugate(heading_quat(q))


# ---- hinge chains (three hinges about +-coordinate axes, intrinsic order) ----

def _axis_index_and_sign(axes):
    """axes: [3, 3] float tensor of +-unit coordinate axes -> (indices list, signs list)."""
    idx, sgn = [], []
    for a in axes.tolist():
        k = max(range(3), key=lambda i: abs(a[i]))
        if abs(abs(a[k]) - 1.0) > 1e-6 or sum(abs(v) for v in a) > 1.0 + 1e-6:
            raise ValueError("hinge axis %s is not a coordinate axis; three-hinge joints need "
                             "axes along +-x, +-y or +-z" % (a,))
        idx.append(k)
        sgn.append(1.0 if a[k] > 0 else -1.0)
    if len(set(idx)) != 3:
        raise ValueError("three-hinge joint axes %s must be three different coordinate axes" % (axes.tolist(),))
    return idx, sgn


def hinge_chain_to_quat(angles, axes):
    """angles [..., 3] about the three hinge axes (rows of axes [3, 3]) -> quat [..., 4].

    Batched over joints too: angles [..., G, 3] with per-joint axes [G, 3, 3]."""
    half = 0.5 * angles.unsqueeze(-1)  # [..., 3, 1]
    q = torch.cat([like(axes, angles) * torch.sin(half), torch.cos(half)], dim=-1)  # [..., 3, 4] per hinge
    return quat_mul(quat_mul(q[..., 0, :], q[..., 1, :]), q[..., 2, :])


def quat_to_hinge_chain(q, axes):
    """Inverse of hinge_chain_to_quat: quat [..., 4] -> angles [..., 3]; middle angle in [-pi/2, pi/2]."""
    order, sgn = _axis_index_and_sign(axes)
    return hinge_chain_angles(q, order, q.new_tensor(sgn))


def hinge_chain_angles(q, order, signs):
    """quat [..., 4] -> hinge angles [..., 3] of chains about the coordinate axes order = (i, j, k),
    each axis with sign signs [..., 3] (a tensor: per joint for batches [..., G, 4] of G joints).

    The Tait-Bryan decomposition R = R_i(a) R_j(b) R_k(c) with s the parity of (i, j, k):
    b = asin(s R_ik), a = atan2(-s R_jk, R_kk), c = atan2(-s R_ij, R_ii).
    """
    i, j, k = order
    s = _parity(i, j, k)
    q = quat_normalize(q)
    xyzw = q.unbind(-1)
    m_ik, m_jk, m_kk = (_MATRIX_ENTRY[rc](*xyzw) for rc in ((i, k), (j, k), (k, k)))  # the entries used
    # b from atan2 of (sin b, cos b): well conditioned up to the lock, unlike asin
    cos_b = torch.sqrt(m_jk ** 2 + m_kk ** 2)
    b = torch.atan2(s * m_ik, cos_b)
    a = torch.atan2(-s * m_jk, m_kk)
    # gimbal lock: a and c share one degree of freedom; put it all in c
    locked = cos_b < (1e-12 if q.dtype == torch.float64 else 1e-6)
    a = torch.where(locked, torch.zeros_like(a), a)
    # c from what a and b leave: an exact rotation about axis k, whatever error a carries near the lock
    basis = const("basis", q)
    rest = quat_mul(quat_conjugate(quat_mul(axis_angle_to_quat(basis[i], a), axis_angle_to_quat(basis[j], b))), q)
    c = wrap_to_pi(2.0 * torch.atan2(rest[..., k], rest[..., 3]))
    return torch.stack([a, b, c], dim=-1) * signs


def _parity(i, j, k):
    """+1 if (i, j, k) is a cyclic order of (0, 1, 2), else -1."""
    return 1.0 if (i, j, k) in ((0, 1, 2), (1, 2, 0), (2, 0, 1)) else -1.0


def hinge_lock_sign(axes, b):
    """At gimbal lock (|b| = pi/2, b in basis angles) only c + sigma a is determined, so
    (a', c + sigma (a - a')) is the same rotation for any a'. Returns sigma [...]."""
    (i, j, k), _ = _axis_index_and_sign(axes)
    return _parity(i, j, k) * torch.sign(b)


def wrap_to_pi(x):
    return torch.remainder(x + torch.pi, 2.0 * torch.pi) - torch.pi
