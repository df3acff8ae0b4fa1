"""Three-hinge joints in batches: the G joints of a character whose bodies carry three hinges about
different coordinate axes, converted all at once as [..., G, ...] tensors.

Per joint, the math is rotations.hinge_chain_to_quat / hinge_chain_angles; here it runs over every
joint in one batched operation instead of one operation per joint (on the GPU each operation is a
kernel launch, which costs far more than the arithmetic at these sizes). Added on top: the
limit-aware choice among equivalent angle solutions, and the angular-velocity Jacobian.
"""
import math

import torch

from mimickit.util import rotations as rot
from mimickit.util.indexing import take

# first and last hinge angles of a solution are only defined modulo 2 pi: candidate shifts
_TWO_PI = 2.0 * math.pi
_SHIFTS_AC = [[da, 0.0, dc] for da in (0.0, -_TWO_PI, _TWO_PI) for dc in (0.0, -_TWO_PI, _TWO_PI)]  # 9
_SHIFTS_C = [[0.0, 0.0, dc] for dc in (0.0, -_TWO_PI, _TWO_PI, -2 * _TWO_PI, 2 * _TWO_PI)]  # 5
_NUM_CANDIDATES = 2 * len(_SHIFTS_AC) + len(_SHIFTS_C)  # 23


class HingeChains:
    """G three-hinge joints: axes [G, 3, 3] (rows: the hinge axes in chain order, each +- a
    coordinate axis), limits [G, 3, 2] radians (+-inf where a hinge has none). G may be 0."""

    def __init__(self, axes, limits, device="cpu"):
        self.num = axes.shape[0]
        self.device = torch.device(device)
        self._axes = axes.to(device=self.device, dtype=torch.float64)
        self._limits = limits.to(device=self.device, dtype=torch.float64)
        orders, signs = [], []  # (i, j, k) and the axes' signs, per joint
        for a in axes:
            order, sign = rot._axis_index_and_sign(a)
            orders.append(tuple(order))
            signs.append(sign)
        self._signs = torch.tensor(signs, dtype=torch.float64, device=self.device).reshape(-1, 3)  # [G, 3]
        # at gimbal lock the locked angle is split so that the first hinge sits mid-range (0 if unlimited)
        lo, hi = self._limits[:, 0, 0], self._limits[:, 0, 1]
        self._a_mid = torch.where(torch.isfinite(lo) & torch.isfinite(hi), 0.5 * (lo + hi),
                                  torch.zeros_like(lo))  # [G]; float64 of float32 limits: exact
        # sign tying the two locked angles: c + tau a stays fixed (rot.hinge_lock_sign times sign(b))
        parity = torch.tensor([rot._parity(*o) for o in orders], dtype=torch.float64, device=self.device)
        self._lock_sign = self._signs[:, 0] * self._signs[:, 2] * parity  # [G]
        # the decomposition indexes matrix entries by Python ints: joints are grouped by axis order
        # (one group for most characters, where every chain has the same order)
        groups = {}
        for g, order in enumerate(orders):
            groups.setdefault(order, []).append(g)
        self._groups = [(order, torch.tensor(ids, device=self.device)) for order, ids in groups.items()]
        self._group_perm = None  # [G]: position of each joint in the groups' concatenation
        if len(groups) > 1:
            cat_ids = torch.cat([ids for _, ids in self._groups])
            self._group_perm = torch.argsort(cat_ids)
        self._cache = {}

    def _consts(self, ref):
        """The constants in ref's dtype and on its device, converted once."""
        key = (ref.dtype, ref.device)
        c = self._cache.get(key)
        if c is None:
            f = lambda t: t.to(device=ref.device, dtype=ref.dtype)
            groups = [dict(order=order, ids=ids.to(ref.device), signs=f(self._signs[ids]),
                           lo=f(self._limits[ids][:, None, :, 0]), hi=f(self._limits[ids][:, None, :, 1]),  # [g, 1, 3]
                           a_mid=f(self._a_mid[ids]), lock_sign=f(self._lock_sign[ids]))
                      for order, ids in self._groups]
            c = self._cache[key] = dict(
                axes=f(self._axes), groups=groups,
                perm=None if self._group_perm is None else self._group_perm.to(ref.device),
                shifts_ac=torch.tensor(_SHIFTS_AC, dtype=ref.dtype, device=ref.device),  # [9, 3]
                shifts_c=torch.tensor(_SHIFTS_C, dtype=ref.dtype, device=ref.device),  # [5, 3]
                # prefer earlier candidates on ties so in-limit poses keep the canonical solution
                order_bias=torch.arange(_NUM_CANDIDATES, dtype=ref.dtype, device=ref.device) * 1e-6,
                eye=torch.eye(3, dtype=ref.dtype, device=ref.device))
        return c

    # ---------------- angles <-> rotations ----------------
    def to_quat(self, angles):
        """Hinge angles [..., G, 3] -> joint rotations [..., G, 4]."""
        return rot.hinge_chain_to_quat(angles, self._consts(angles)["axes"])

    def angles_in_limits(self, q):
        """Joint rotations q [..., G, 4] -> hinge angles [..., G, 3]: of the equivalent solutions (two
        Tait-Bryan solutions, first and last angles shifted by 2 pi, any split at gimbal lock), the one
        inside the joint limits, else the one least outside."""
        c = self._consts(q)
        if not c["groups"]:
            return q.new_zeros(q.shape[:-1] + (3,))
        if c["perm"] is None:
            return _angles_in_limits(q, c, c["groups"][0])
        parts = [_angles_in_limits(take(q, -2, g["ids"]), c, g) for g in c["groups"]]
        return take(torch.cat(parts, dim=-2), -2, c["perm"])

    # ---------------- angle rates <-> angular velocity ----------------
    def _jacobian_rows(self, angles):
        """Child-frame angular velocity per unit rate of each hinge [..., G, 3 (hinge), 3 (xyz)], and
        the axes [G, 3, 3]. For R = Ra(a) Rb(b) Rc(c): w = (Rb Rc)^T axis_a a' + Rc^T axis_b b' + axis_c c'."""
        axes = self._consts(angles)["axes"]
        half = 0.5 * angles.unsqueeze(-1)
        q = torch.cat([axes * torch.sin(half), torch.cos(half)], dim=-1)  # [..., G, 3, 4] per hinge
        q_c = q[..., 2, :]
        q_bc = rot.quat_mul(q[..., 1, :], q_c)
        rows_ab = rot.quat_rotate_inverse(torch.stack([q_bc, q_c], dim=-2), axes[:, :2])  # [..., G, 2, 3]
        return rows_ab, axes

    def angular_velocity(self, angles, rates):
        """Hinge angles and rates [..., G, 3] -> child-frame angular velocities [..., G, 3]."""
        rows_ab, axes = self._jacobian_rows(angles)
        return (rows_ab[..., 0, :] * rates[..., 0:1] + rows_ab[..., 1, :] * rates[..., 1:2]
                + axes[:, 2] * rates[..., 2:3])

    def rates(self, angles, ang_vel):
        """Inverse of angular_velocity: hinge rates [..., G, 3] of child-frame angular velocities
        ang_vel [..., G, 3], by damped least squares so gimbal lock (J singular) stays finite."""
        rows_ab, axes = self._jacobian_rows(angles)
        jt = torch.cat([rows_ab, axes[:, 2:].expand(rows_ab.shape[:-2] + (1, 3))], dim=-2)  # [..., G, 3, 3] = J^T
        jac = jt.transpose(-1, -2)
        eye = self._consts(angles)["eye"]
        jtj, jtw = jt @ jac + 1e-9 * eye, jt @ ang_vel.unsqueeze(-1)
        # solve_ex: linalg.solve's LU without its error check, which would wait for the GPU
        rates, info = torch.linalg.solve_ex(jtj, jtw)
        # float32 cannot hold the 1e-9 damping beside J^T J's O(1) entries: where that leaves the
        # system exactly singular (a chain exactly at gimbal lock), solve with damping it can hold
        damped = torch.linalg.solve_ex(jtj + 1e-5 * eye, jtw)[0]
        return torch.where((info == 0)[..., None, None], rates, damped).squeeze(-1)


def _angles_in_limits(q, c, g):
    """angles_in_limits for one group g of joints that share an axis order: q [..., g, 4] -> [..., g, 3]."""
    sgn = g["signs"]  # [g, 3]
    canon = rot.hinge_chain_angles(q, g["order"], sgn)  # [..., g, 3]
    a, b, cc = canon.unbind(-1)
    # the second Tait-Bryan solution, expressed in the signed hinge angles
    base = canon * sgn
    alt = torch.stack([base[..., 0] + math.pi, math.pi - base[..., 1], base[..., 2] + math.pi], dim=-1) * sgn
    sols = torch.stack([canon, rot.wrap_to_pi(alt)], dim=-2)  # [..., g, 2, 3]
    cands = (sols.unsqueeze(-2) + c["shifts_ac"]).flatten(-3, -2)  # [..., g, 18, 3], first the canonical
    # at gimbal lock, any split of the locked angle is exact: try the one centring the first hinge
    sgn_b = base[..., 1]
    locked = (torch.cos(sgn_b).abs() < 1e-6).unsqueeze(-1)
    a_mid = g["a_mid"]
    tau = g["lock_sign"] * torch.sign(sgn_b)
    split = torch.stack([a_mid.expand_as(a), b, cc + tau * (a - a_mid)], dim=-1)
    split = torch.where(locked, split, canon)
    cands = torch.cat([cands, split.unsqueeze(-2) + c["shifts_c"]], dim=-2)  # [..., g, 23, 3]
    violation = ((g["lo"] - cands).clamp_min(0) + (cands - g["hi"]).clamp_min(0)).sum(-1)  # [..., g, 23]
    best = (violation + c["order_bias"]).argmin(dim=-1, keepdim=True)
    return torch.gather(cands, -2, best.unsqueeze(-1).expand(best.shape + (3,))).squeeze(-2)
