"""Kinematic character model parsed from an MJCF file through MuJoCo.

It gives the joint tree, the DoF layout of the motion format and batched torch forward kinematics.
Bodies are indexed 0..num_bodies-1 in MJCF depth-first order (MuJoCo body id minus one, the world
excluded); body 0 is the root and carries a free joint.

Two DoF representations exist:
- motion DoFs ``[..., num_dofs]``: per joint an exp map (3-DoF joints) or an angle (hinges), the
  layout of MimicKit motion frames;
- sim DoFs ``[..., num_sim_dofs]``: MuJoCo's own coordinates of the same joints (hinge angles; a
  ball joint would be a wxyz quaternion). ``dof_to_sim`` / ``sim_to_dof`` convert exactly.
"""
import enum
import math

import mujoco
import torch

from mimickit.util import rotations as rot


class JointType(enum.Enum):
    FIXED = 0  # body welded to its parent
    HINGE = 1  # one hinge: 1 DoF
    SPHERE = 2  # three hinges or a ball joint: 3 DoFs as an exp map


class Joint:
    """The joint that moves one body relative to its parent."""

    def __init__(self, name, body_id, joint_type, dof_offset, hinge_axes=None, anchor=None,
                 limits=None, is_ball=False, qpos_adr=None, qvel_adr=None):
        self.name = name
        self.body_id = body_id
        self.type = joint_type
        self.dof_offset = dof_offset
        self.hinge_axes = hinge_axes  # [n_hinges, 3] in the body frame
        self.anchor = anchor  # [3] rotation centre in the body frame
        self.limits = limits  # [n_hinges, 2] radians, or None
        self.is_ball = is_ball
        self.qpos_adr = qpos_adr  # MuJoCo qpos addresses of this joint's coordinates
        self.qvel_adr = qvel_adr

    @property
    def dof_dim(self):
        return {JointType.FIXED: 0, JointType.HINGE: 1, JointType.SPHERE: 3}[self.type]


def _strip_hinge_suffix(name):
    for suffix in ("_x", "_y", "_z"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


class KinCharModel:
    def __init__(self, mjcf_file, device="cpu"):
        self.file = str(mjcf_file)
        self.device = torch.device(device)
        try:
            model = mujoco.MjModel.from_xml_path(self.file)
        except Exception as e:
            raise ValueError("%s: MuJoCo could not load this MJCF: %s" % (self.file, e)) from e
        self._parse(model)

    # ---------------- parsing ----------------
    def _parse(self, m):
        name = lambda obj, i: mujoco.mj_id2name(m, obj, i) or ("%s%d" % (obj.name, i))
        nb = m.nbody - 1
        if nb < 1:
            raise ValueError("%s: the MJCF has no bodies besides the world" % self.file)
        self.body_names = [name(mujoco.mjtObj.mjOBJ_BODY, b + 1) for b in range(nb)]
        self.parent_indices = [int(m.body_parentid[b + 1]) - 1 for b in range(nb)]  # -1: world
        if self.parent_indices[0] != -1 or any(p == -1 for p in self.parent_indices[1:]):
            raise ValueError("%s: expected one character whose root is the first body; bodies %s "
                             "hang from the world" % (self.file, [self.body_names[i] for i, p in
                                                                  enumerate(self.parent_indices) if p == -1]))
        self.mjcf_model = m
        self.joints = []
        dof_offset = 0
        self.root_qpos_adr = None
        for b in range(nb):
            bid = b + 1
            jadr, jnum = int(m.body_jntadr[bid]), int(m.body_jntnum[bid])
            jids = list(range(jadr, jadr + jnum))
            types = [int(m.jnt_type[j]) for j in jids]
            if b == 0:
                if types != [mujoco.mjtJoint.mjJNT_FREE]:
                    raise ValueError("%s: root body '%s' must have exactly one free joint"
                                     % (self.file, self.body_names[0]))
                self.root_qpos_adr = int(m.jnt_qposadr[jids[0]])
                self.root_qvel_adr = int(m.jnt_dofadr[jids[0]])
                self.joints.append(Joint("root", 0, JointType.FIXED, 0))
                continue
            joint = self._make_joint(m, b, jids, types, dof_offset)
            dof_offset += joint.dof_dim
            self.joints.append(joint)
        self.num_bodies = nb
        self.num_dofs = dof_offset
        self.num_sim_dofs = sum(len(j.qvel_adr) for j in self.joints[1:] if j.qvel_adr is not None)
        self.body_offsets = torch.tensor(m.body_pos[1:], dtype=torch.float32, device=self.device)
        self.body_rest_rots = torch.tensor(m.body_quat[1:][:, [1, 2, 3, 0]], dtype=torch.float32,
                                           device=self.device)
        self.body_masses = torch.tensor(m.body_mass[1:], dtype=torch.float32, device=self.device)
        self.dof_limits = self._collect_limits()

    def _make_joint(self, m, b, jids, types, dof_offset):
        bname = self.body_names[b]
        hinge, ball = mujoco.mjtJoint.mjJNT_HINGE, mujoco.mjtJoint.mjJNT_BALL
        if not jids:
            return Joint(bname, b, JointType.FIXED, dof_offset)
        anchors = torch.tensor(m.jnt_pos[jids], dtype=torch.float32)
        if (anchors - anchors[0]).abs().max() > 1e-6:
            raise ValueError("%s: joints of body '%s' have different anchors; one anchor per body "
                             "is supported" % (self.file, bname))
        qpos_adr = [int(m.jnt_qposadr[j]) for j in jids]
        qvel_adr = [int(m.jnt_dofadr[j]) for j in jids]
        if types == [ball]:
            jname = mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_JOINT, jids[0]) or bname
            qpos_adr = list(range(qpos_adr[0], qpos_adr[0] + 4))
            qvel_adr = list(range(qvel_adr[0], qvel_adr[0] + 3))
            return Joint(jname, b, JointType.SPHERE, dof_offset, anchor=anchors[0], is_ball=True,
                         qpos_adr=qpos_adr, qvel_adr=qvel_adr)
        if all(t == hinge for t in types) and len(jids) in (1, 3):
            axes = torch.tensor(m.jnt_axis[jids], dtype=torch.float32)
            limits = torch.tensor(m.jnt_range[jids], dtype=torch.float32)
            unlimited = torch.tensor([not bool(m.jnt_limited[j]) for j in jids])
            limits[unlimited] = torch.tensor([-math.inf, math.inf])
            jname = mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_JOINT, jids[0]) or bname
            if len(jids) == 1:
                return Joint(jname, b, JointType.HINGE, dof_offset, hinge_axes=axes, anchor=anchors[0],
                             limits=limits, qpos_adr=qpos_adr, qvel_adr=qvel_adr)
            rot._axis_index_and_sign(axes)  # raises a clear error for unsupported axes
            return Joint(_strip_hinge_suffix(jname), b, JointType.SPHERE, dof_offset, hinge_axes=axes,
                         anchor=anchors[0], limits=limits, qpos_adr=qpos_adr, qvel_adr=qvel_adr)
        raise ValueError("%s: body '%s' has joints of types %s; supported per body: none, one hinge, "
                         "three hinges, or one ball joint" % (self.file, bname, types))

    def _collect_limits(self):
        """[num_dofs, 2] limits in motion-DoF units, inf where a DoF has none (exp maps)."""
        lim = torch.full((self.num_dofs, 2), math.inf)
        lim[:, 0] = -math.inf
        for j in self.joints:
            if j.type == JointType.HINGE:
                lim[j.dof_offset] = j.limits[0]
        return lim.to(self.device)

    # ---------------- layout helpers ----------------
    @property
    def movable_joints(self):
        return [j for j in self.joints[1:] if j.type != JointType.FIXED]

    @property
    def frame_size(self):
        """Width of a motion frame: root pos (3), root exp map (3), DoFs."""
        return 6 + self.num_dofs

    def body_id(self, name):
        if name not in self.body_names:
            raise KeyError("%s: no body named '%s'; bodies are %s" % (self.file, name, self.body_names))
        return self.body_names.index(name)

    def joint_dof_slice(self, joint):
        return slice(joint.dof_offset, joint.dof_offset + joint.dof_dim)

    def sim_dof_names(self):
        m = self.mjcf_model
        names = []
        for j in self.movable_joints:
            if j.is_ball:
                names += ["%s_%d" % (j.name, i) for i in range(3)]
            else:
                jadr = int(m.body_jntadr[j.body_id + 1])
                names += [mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_JOINT, jadr + i)
                          for i in range(len(j.qvel_adr))]
        return names

    # ---------------- DoFs <-> local rotations ----------------
    def dof_to_local_rot(self, dof):
        """dof [..., num_dofs] -> joint rotations [..., num_bodies, 4] (identity for root/fixed)."""
        batch = dof.shape[:-1]
        rots = rot.quat_identity(batch + (self.num_bodies,), device=dof.device, dtype=dof.dtype)
        rots = rots.clone()
        for j in self.movable_joints:
            d = dof[..., self.joint_dof_slice(j)]
            if j.type == JointType.SPHERE:
                rots[..., j.body_id, :] = rot.exp_map_to_quat(d)
            else:
                axis = j.hinge_axes[0].to(dof).expand(batch + (3,))
                rots[..., j.body_id, :] = rot.axis_angle_to_quat(axis, d[..., 0])
        return rots

    def local_rot_to_dof(self, local_rot):
        """local_rot [..., num_bodies, 4] -> dof [..., num_dofs]; hinges take the twist about their axis."""
        batch = local_rot.shape[:-2]
        dof = local_rot.new_zeros(batch + (self.num_dofs,))
        for j in self.movable_joints:
            q = local_rot[..., j.body_id, :]
            if j.type == JointType.SPHERE:
                dof[..., self.joint_dof_slice(j)] = rot.quat_to_exp_map(q)
            else:
                axis = j.hinge_axes[0].to(q)
                # signed angle of the rotation's component about the hinge axis (swing-twist)
                s = (q[..., :3] * axis).sum(-1)
                dof[..., j.dof_offset] = rot.wrap_to_pi(2.0 * torch.atan2(s, q[..., 3]))
        return dof

    # ---------------- motion DoFs <-> sim coordinates ----------------
    def dof_to_sim(self, dof):
        """Motion DoFs [..., num_dofs] -> MuJoCo joint coordinates [..., num_sim_dofs] (hinges only).

        Three-hinge joints: of the equivalent hinge-angle solutions (two Tait-Bryan solutions, each
        angle shifted by 2 pi), take the one inside the joint limits, else the least outside.
        """
        parts = []
        for j in self.movable_joints:
            d = dof[..., self.joint_dof_slice(j)]
            if j.is_ball:
                raise ValueError("%s: joint '%s' is a ball joint; use dof_to_qpos" % (self.file, j.name))
            if j.type == JointType.SPHERE:
                parts.append(_hinge_angles_in_limits(rot.exp_map_to_quat(d), j.hinge_axes.to(d),
                                                     j.limits.to(d)))
            else:
                parts.append(d)
        return torch.cat(parts, dim=-1)

    def sim_to_dof(self, sim_dof):
        """MuJoCo hinge coordinates [..., num_sim_dofs] -> motion DoFs [..., num_dofs]."""
        parts, i = [], 0
        for j in self.movable_joints:
            n = len(j.qvel_adr)
            a = sim_dof[..., i:i + n]
            if j.type == JointType.SPHERE:
                parts.append(rot.quat_to_exp_map(rot.hinge_chain_to_quat(a, j.hinge_axes.to(a))))
            else:
                parts.append(a)
            i += n
        return torch.cat(parts, dim=-1)

    def dof_to_qpos(self, root_pos, root_rot, dof):
        """Full MuJoCo qpos [..., nq] (free joint quaternion in wxyz) of a pose."""
        m = self.mjcf_model
        qpos = dof.new_zeros(dof.shape[:-1] + (m.nq,))
        qpos[..., self.root_qpos_adr:self.root_qpos_adr + 3] = root_pos
        qpos[..., self.root_qpos_adr + 3:self.root_qpos_adr + 7] = root_rot[..., [3, 0, 1, 2]]
        for j in self.movable_joints:
            d = dof[..., self.joint_dof_slice(j)]
            if j.is_ball:
                qpos[..., j.qpos_adr] = rot.exp_map_to_quat(d)[..., [3, 0, 1, 2]]
            elif j.type == JointType.SPHERE:
                qpos[..., j.qpos_adr] = _hinge_angles_in_limits(rot.exp_map_to_quat(d), j.hinge_axes.to(d),
                                                                j.limits.to(d))
            else:
                qpos[..., j.qpos_adr] = d
        return qpos

    def qpos_to_dof(self, qpos):
        """MuJoCo qpos [..., nq] -> (root_pos [..., 3], root_rot [..., 4] xyzw, dof [..., num_dofs])."""
        a = self.root_qpos_adr
        root_pos = qpos[..., a:a + 3]
        root_rot = rot.quat_normalize(qpos[..., a + 3:a + 7][..., [1, 2, 3, 0]])
        dof = qpos.new_zeros(qpos.shape[:-1] + (self.num_dofs,))
        for j in self.movable_joints:
            q = qpos[..., j.qpos_adr]
            if j.is_ball:
                dof[..., self.joint_dof_slice(j)] = rot.quat_to_exp_map(q[..., [1, 2, 3, 0]])
            elif j.type == JointType.SPHERE:
                dof[..., self.joint_dof_slice(j)] = rot.quat_to_exp_map(
                    rot.hinge_chain_to_quat(q, j.hinge_axes.to(q)))
            else:
                dof[..., j.dof_offset] = q[..., 0]
        return root_pos, root_rot, dof

    # ---------------- forward kinematics ----------------
    def forward_kinematics(self, root_pos, root_rot, dof):
        """root_pos [..., 3], root_rot [..., 4] (xyzw), dof [..., num_dofs]
        -> body_pos [..., num_bodies, 3], body_rot [..., num_bodies, 4] in the world frame."""
        local = self.dof_to_local_rot(dof)
        offsets = self.body_offsets.to(dof)
        rests = self.body_rest_rots.to(dof)
        pos, rots = [root_pos], [root_rot]
        for b in range(1, self.num_bodies):
            p = self.parent_indices[b]
            frame_rot = rot.quat_mul(rots[p], rests[b].expand_as(rots[p]))
            frame_pos = pos[p] + rot.quat_rotate(rots[p], offsets[b].expand_as(pos[p]))
            body_rot = rot.quat_mul(frame_rot, local[..., b, :])
            joint = self.joints[b]
            if joint.type != JointType.FIXED and joint.anchor is not None and bool(joint.anchor.abs().max() > 0):
                # rotation about the joint anchor, which stays where the rest pose puts it
                anchor = joint.anchor.to(dof).expand_as(frame_pos)
                frame_pos = frame_pos + rot.quat_rotate(frame_rot, anchor) - rot.quat_rotate(body_rot, anchor)
            pos.append(frame_pos)
            rots.append(body_rot)
        return torch.stack(pos, dim=-2), torch.stack(rots, dim=-2)


def _hinge_angles_in_limits(q, axes, limits):
    """q [..., 4] -> hinge angles [..., 3]: the equivalent solution nearest the limits [3, 2]."""
    canon = rot.quat_to_hinge_chain(q, axes)
    a, b, c = canon.unbind(-1)
    # the second Tait-Bryan solution, expressed in the signed hinge angles
    sgn = torch.tensor(rot._axis_index_and_sign(axes)[1], dtype=q.dtype, device=q.device)
    base = canon * sgn
    alt = torch.stack([base[..., 0] + math.pi, math.pi - base[..., 1], base[..., 2] + math.pi], dim=-1) * sgn
    cands = []
    two_pi = 2.0 * math.pi
    for sol in (canon, rot.wrap_to_pi(alt)):
        for da in (0.0, -two_pi, two_pi):
            for dc in (0.0, -two_pi, two_pi):
                cands.append(sol + sol.new_tensor([da, 0.0, dc]))
    # at gimbal lock, any split of the locked angle is exact: try the one centring the first hinge
    sgn_b = base[..., 1]
    locked = (torch.cos(sgn_b).abs() < 1e-6).unsqueeze(-1)
    lo_a, hi_a = limits[0, 0], limits[0, 1]
    a_mid = torch.where(torch.isfinite(lo_a) & torch.isfinite(hi_a), 0.5 * (lo_a + hi_a), torch.zeros_like(lo_a))
    tau = sgn[0] * sgn[2] * rot.hinge_lock_sign(axes, sgn_b)
    split = torch.stack([a_mid.expand_as(a), b, c + tau * (a - a_mid)], dim=-1)
    split = torch.where(locked, split, canon)
    for dc in (0.0, -two_pi, two_pi, -2 * two_pi, 2 * two_pi):
        cands.append(split + split.new_tensor([0.0, 0.0, dc]))
    cands = torch.stack(cands, dim=-2)  # [..., 23, 3], first is the canonical solution
    lo, hi = limits[:, 0], limits[:, 1]
    violation = ((lo - cands).clamp_min(0) + (cands - hi).clamp_min(0)).sum(-1)  # [..., 18]
    # prefer earlier candidates on ties so in-limit poses keep the canonical solution
    order_bias = torch.arange(cands.shape[-2], dtype=q.dtype, device=q.device) * 1e-6
    best = (violation + order_bias).argmin(dim=-1, keepdim=True)
    return torch.gather(cands, -2, best.unsqueeze(-1).expand(best.shape + (3,))).squeeze(-2)


class GeomShapes:
    """Collision geoms of a character, for ground checks: lowest point of each geom per pose."""

    def __init__(self, char_model):
        m = char_model.mjcf_model
        keep = [g for g in range(m.ngeom) if m.geom_bodyid[g] > 0]
        types = [int(m.geom_type[g]) for g in keep]
        supported = (mujoco.mjtGeom.mjGEOM_SPHERE, mujoco.mjtGeom.mjGEOM_CAPSULE, mujoco.mjtGeom.mjGEOM_BOX,
                     mujoco.mjtGeom.mjGEOM_CYLINDER)
        for g, t in zip(keep, types):
            if t not in supported:
                raise ValueError("%s: geom %d has type %d; ground checks support spheres, capsules, "
                                 "cylinders and boxes" % (char_model.file, g, t))
        dev = char_model.device
        self.body_ids = torch.tensor([int(m.geom_bodyid[g]) - 1 for g in keep], device=dev)
        self.types = torch.tensor(types, device=dev)
        self.pos = torch.tensor(m.geom_pos[keep], dtype=torch.float32, device=dev)  # [G, 3]
        self.rot = torch.tensor(m.geom_quat[keep][:, [1, 2, 3, 0]], dtype=torch.float32, device=dev)
        self.size = torch.tensor(m.geom_size[keep], dtype=torch.float32, device=dev)  # [G, 3]

    def min_heights(self, body_pos, body_rot):
        """body_pos [..., B, 3], body_rot [..., B, 4] -> lowest z of each geom [..., G]."""
        bp = body_pos[..., self.body_ids, :]
        br = body_rot[..., self.body_ids, :]
        center = bp + rot.quat_rotate(br, self.pos.to(bp).expand_as(bp))
        grot = rot.quat_mul(br, self.rot.to(br).expand_as(br))
        m = rot.quat_to_matrix(grot)  # [..., G, 3, 3]; row 2 holds the world-z part of each local axis
        zrow = m[..., 2, :].abs()
        size = self.size.to(bp)
        sphere = size[:, 0]
        capsule = zrow[..., 2] * size[:, 1] + size[:, 0]
        cylinder = zrow[..., 2] * size[:, 1] + size[:, 0] * torch.sqrt((1.0 - m[..., 2, 2] ** 2).clamp_min(0))
        box = (zrow * size).sum(-1)
        t = self.types
        extent = torch.where(t == int(mujoco.mjtGeom.mjGEOM_SPHERE), sphere,
                             torch.where(t == int(mujoco.mjtGeom.mjGEOM_CAPSULE), capsule,
                                         torch.where(t == int(mujoco.mjtGeom.mjGEOM_BOX), box, cylinder)))
        return center[..., 2] - extent
