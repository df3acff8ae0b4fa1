"""Kinematic character model parsed from an MJCF file through MuJoCo.

It gives the joint tree, the DoF layout of the motion format and batched torch forward kinematics.
Bodies are indexed 0..num_bodies-1 in MJCF depth-first order (MuJoCo body id minus one, the world
excluded); body 0 is the root and carries a free joint.

Two DoF representations exist:
- motion DoFs ``[..., num_dofs]``: per joint an exp map (3-DoF joints) or an angle (hinges), the
  layout of MimicKit motion frames;
- sim DoFs ``[..., num_sim_dofs]``: the engines' coordinates of the same joints, one per actuated DoF:
  hinge angles, and a ball joint's exp map (the engines convert MuJoCo's quaternion qpos; its qvel is the
  angular velocity in the child frame). ``dof_to_sim`` / ``sim_to_dof`` convert exactly.
"""
import enum
import math

import mujoco
import torch

from mimickit.anim.hinge_chains import HingeChains
from mimickit.util import rotations as rot
from mimickit.util.indexing import take


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
        self.limits = limits  # [n_dofs, 2] radians (inf: none), or None (fixed)
        self.is_ball = is_ball
        self.qpos_adr = qpos_adr  # MuJoCo qpos addresses of this joint's coordinates
        self.qvel_adr = qvel_adr

    @property
    def dof_dim(self):
        return {JointType.FIXED: 0, JointType.HINGE: 1, JointType.SPHERE: 3}[self.type]


def split_frames(frames):
    """Clip frames [..., 6 + num_dofs] (a tensor) -> root_pos [..., 3], root_rot [..., 4] (xyzw, from the
    frame's exp map) and the joint DoFs [..., num_dofs]: what forward_kinematics takes."""
    return frames[..., :3], rot.exp_map_to_quat(frames[..., 3:6]), frames[..., 6:]


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
        self._build_layout()

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
            # no limit per exp-map coordinate (MuJoCo's own cone, range[1], bounds the rotation angle)
            return Joint(jname, b, JointType.SPHERE, dof_offset, anchor=anchors[0], is_ball=True,
                         limits=torch.tensor([[-math.inf, math.inf]] * 3), qpos_adr=qpos_adr, qvel_adr=qvel_adr)
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

    # ---------------- batched layout ----------------
    def _build_layout(self):
        """Index tensors that convert all joints of a kind in one batched operation (on the GPU each
        operation is a kernel launch, far costlier than its arithmetic): the S 3-DoF joints as exp maps
        [..., S, 3], the H hinges as angles [..., H], and the C three-hinge chains (the 3-DoF joints
        that are not ball joints) through HingeChains."""
        dev = self.device
        lt = lambda x: torch.tensor(x, dtype=torch.long, device=dev)
        movable = self.movable_joints
        sph = [j for j in movable if j.type == JointType.SPHERE]
        hng = [j for j in movable if j.type == JointType.HINGE]
        chains = [j for j in sph if not j.is_ball]
        self._balls = [j for j in sph if j.is_ball]
        fixed = [j.body_id for j in self.joints if j.type == JointType.FIXED]
        cols3 = lambda j: list(range(j.dof_offset, j.dof_offset + 3))
        self._sph_bodies = lt([j.body_id for j in sph])  # [S]
        self._sph_cols = lt([cols3(j) for j in sph]).reshape(-1, 3)  # [S, 3] motion-DoF columns
        self._hng_bodies = lt([j.body_id for j in hng])  # [H]
        self._hng_cols = lt([j.dof_offset for j in hng])  # [H]
        self._hng_axes = torch.stack([j.hinge_axes[0] for j in hng]) if hng else torch.zeros(0, 3)  # [H, 3]
        # motion DoFs [..., num_dofs] = cat([sphere exp maps [..., 3S], hinge angles [..., H]])[..., _dof_perm]
        self._dof_perm = torch.argsort(lt(sum([cols3(j) for j in sph], []) + [j.dof_offset for j in hng]))
        # local rotations [..., B, 4] = cat([sphere, hinge, identity (root and fixed)])[..., _body_perm, :]
        self._body_perm = torch.argsort(lt([j.body_id for j in sph] + [j.body_id for j in hng] + fixed))
        self._num_fixed = len(fixed)
        # sim coordinates: per movable joint in depth-first order, 3 (chain or ball) or 1 (hinge)
        sim_start, i = {}, 0
        for j in movable:
            sim_start[j.body_id] = i
            i += len(j.qvel_adr)
        self._chain_cols = lt([cols3(j) for j in chains]).reshape(-1, 3)  # [C, 3]
        self._chain_sim = lt([[sim_start[j.body_id] + k for k in range(3)] for j in chains]).reshape(-1, 3)
        self._chain_qpos = lt([j.qpos_adr for j in chains]).reshape(-1, 3)  # [C, 3]
        self._hng_sim = lt([sim_start[j.body_id] for j in hng])  # [H]
        self._hng_qpos = lt([j.qpos_adr[0] for j in hng])  # [H]
        # ball joints: their 3 sim coordinates are the exp map itself (the engines convert MuJoCo's quaternion)
        self._ball_cols = lt([cols3(j) for j in self._balls]).reshape(-1, 3)  # [G, 3] motion-DoF columns
        self._ball_sim = lt([[sim_start[j.body_id] + k for k in range(3)] for j in self._balls]).reshape(-1, 3)
        # sim coordinates [..., D] = cat([chain angles [..., 3C], ball exp maps [..., 3G], hinge angles [..., H]])
        # [..., _sim_perm] (_assemble of chains and balls together); motion DoFs likewise from cat([chain exp maps,
        # ball exp maps, hinges])[..., _cbh_perm]
        self._sim_perm = torch.argsort(torch.cat([self._chain_sim.flatten(), self._ball_sim.flatten(), self._hng_sim]))
        self._cbh_perm = torch.argsort(torch.cat([self._chain_cols.flatten(), self._ball_cols.flatten(),
                                                  self._hng_cols]))
        stack = lambda xs, shape: torch.stack(xs) if xs else torch.zeros(shape)
        self.hinge_chains = HingeChains(stack([j.hinge_axes for j in chains], (0, 3, 3)),
                                        stack([j.limits for j in chains], (0, 3, 2)), dev)  # [C] joints
        self._build_fk_levels()
        self._cache = {}

    def _build_fk_levels(self):
        """Bodies grouped by depth in the tree: forward kinematics handles one level at a time (the
        humanoid's 14 non-root bodies in 4 levels). Per level: its bodies, each parent's position in
        the previous level (None where broadcasting does without a gather), and which terms exist."""
        nb = self.num_bodies
        depth = [0] * nb
        for b in range(1, nb):
            depth[b] = depth[self.parent_indices[b]] + 1
        prev, order, self._fk_levels = [0], [0], []
        for d in range(1, max(depth) + 1):
            bodies = [b for b in range(nb) if depth[b] == d]
            parents = [prev.index(self.parent_indices[b]) for b in bodies]
            rests = self.body_rest_rots[bodies]
            anchors = torch.zeros(len(bodies), 3)
            for n, b in enumerate(bodies):
                j = self.joints[b]
                if j.type != JointType.FIXED and j.anchor is not None:
                    anchors[n] = j.anchor
            self._fk_levels.append(dict(
                bodies=torch.tensor(bodies, device=self.device),
                # a single parent broadcasts; a one-to-one parent list in order needs no gather either
                parents=None if len(prev) == 1 or parents == list(range(len(prev))) else
                torch.tensor(parents, device=self.device),
                offsets=self.body_offsets[bodies],  # [n, 3]
                # identity rest rotations are skipped (q * identity == q exactly)
                rests=None if bool((rests == rests.new_tensor([0.0, 0.0, 0.0, 1.0])).all()) else rests,
                # rotation about a joint anchor off the body origin (zero anchors add exactly zero)
                anchors=anchors.to(self.device) if bool(anchors.abs().max() > 0) else None))
            prev = bodies
            order += bodies
        self._fk_perm = torch.argsort(torch.tensor(order, device=self.device))  # level order -> body order

    def _consts(self, ref):
        """Float constants in ref's dtype and on its device, converted once."""
        key = (ref.dtype, ref.device)
        c = self._cache.get(key)
        if c is None:
            f = lambda t: None if t is None else t.to(device=ref.device, dtype=ref.dtype)
            ident = torch.zeros(self._num_fixed, 4, dtype=ref.dtype, device=ref.device)
            ident[:, 3] = 1.0
            c = self._cache[key] = dict(
                hng_axes=f(self._hng_axes), identity=ident,  # [H, 3], [F, 4]
                levels=[{k: (v if k in ("bodies", "parents") else f(v)) for k, v in lv.items()}
                        for lv in self._fk_levels])
        return c

    def _assemble(self, sph, hng, perm):
        """cat([sph [..., S, 3] flattened, hng [..., H]]) -> [..., 3S + H] reordered by perm."""
        return take(torch.cat([sph.flatten(-2), hng], dim=-1), -1, perm)

    # ---------------- DoFs <-> local rotations ----------------
    def dof_to_local_rot(self, dof):
        """dof [..., num_dofs] -> joint rotations [..., num_bodies, 4] (identity for root/fixed)."""
        c = self._consts(dof)
        q_sph = rot.exp_map_to_quat(take(dof, -1, self._sph_cols))  # [..., S, 4]
        q_hng = rot.axis_angle_to_quat(c["hng_axes"], take(dof, -1, self._hng_cols))  # [..., H, 4]
        ident = c["identity"].expand(dof.shape[:-1] + c["identity"].shape)  # [..., F, 4]
        return take(torch.cat([q_sph, q_hng, ident], dim=-2), -2, self._body_perm)

    def local_rot_to_dof(self, local_rot, hinge_angles=None):
        """local_rot [..., num_bodies, 4] -> dof [..., num_dofs]; hinges take the twist about their axis,
        or hinge_angles [..., H] (hinges in joint order) when given."""
        e = rot.quat_to_exp_map(take(local_rot, -2, self._sph_bodies))  # [..., S, 3]
        if hinge_angles is None:
            q = take(local_rot, -2, self._hng_bodies)  # [..., H, 4]
            # signed angle of the rotation's component about the hinge axis (swing-twist)
            s = (q[..., :3] * self._consts(q)["hng_axes"]).sum(-1)
            hinge_angles = rot.wrap_to_pi(2.0 * torch.atan2(s, q[..., 3]))
        return self._assemble(e, hinge_angles, self._dof_perm)

    # ---------------- motion DoFs <-> sim coordinates ----------------
    def dof_to_sim(self, dof):
        """Motion DoFs [..., num_dofs] -> the engines' joint coordinates [..., num_sim_dofs]: hinge angles, and
        each ball joint's exp map as it is.

        Three-hinge joints: of the equivalent hinge-angle solutions (two Tait-Bryan solutions, each
        angle shifted by 2 pi), take the one inside the joint limits, else the least outside.
        """
        angles = self.hinge_chains.angles_in_limits(rot.exp_map_to_quat(take(dof, -1, self._chain_cols)))
        return self._assemble(torch.cat([angles, take(dof, -1, self._ball_cols)], dim=-2),
                              take(dof, -1, self._hng_cols), self._sim_perm)

    def sim_to_dof(self, sim_dof):
        """The engines' joint coordinates [..., num_sim_dofs] -> motion DoFs [..., num_dofs]."""
        e = rot.quat_to_exp_map(self.hinge_chains.to_quat(take(sim_dof, -1, self._chain_sim)))  # [..., C, 3]
        return self._assemble(torch.cat([e, take(sim_dof, -1, self._ball_sim)], dim=-2),
                              take(sim_dof, -1, self._hng_sim), self._cbh_perm)

    def sim_vel_to_dof_vel(self, sim_dof, sim_vel):
        """Joint rates sim_vel [..., D] at coordinates sim_dof [..., D] -> motion-layout DoF velocities
        [..., num_dofs]: per 3-DoF joint its angular velocity in its own (child) frame (a ball joint's qvel
        already is), per hinge its rate."""
        w = self.hinge_chains.angular_velocity(take(sim_dof, -1, self._chain_sim), take(sim_vel, -1, self._chain_sim))
        return self._assemble(torch.cat([w, take(sim_vel, -1, self._ball_sim)], dim=-2),
                              take(sim_vel, -1, self._hng_sim), self._cbh_perm)

    def dof_vel_to_sim_vel(self, sim_dof, dof_vel):
        """Inverse of sim_vel_to_dof_vel: motion-layout DoF velocities [..., num_dofs] at coordinates
        sim_dof [..., D] -> joint rates [..., D] (three-hinge chains: damped least squares through gimbal lock)."""
        rates = self.hinge_chains.rates(take(sim_dof, -1, self._chain_sim), take(dof_vel, -1, self._chain_cols))
        return self._assemble(torch.cat([rates, take(dof_vel, -1, self._ball_cols)], dim=-2),
                              take(dof_vel, -1, self._hng_cols), self._sim_perm)

    def dof_to_qpos(self, root_pos, root_rot, dof):
        """Full MuJoCo qpos [..., nq] (free joint quaternion in wxyz) of a pose."""
        m = self.mjcf_model
        qpos = dof.new_zeros(dof.shape[:-1] + (m.nq,))
        qpos[..., self.root_qpos_adr:self.root_qpos_adr + 3] = root_pos
        qpos[..., self.root_qpos_adr + 3:self.root_qpos_adr + 7] = root_rot[..., [3, 0, 1, 2]]
        for j in self._balls:
            qpos[..., j.qpos_adr] = rot.exp_map_to_quat(dof[..., self.joint_dof_slice(j)])[..., [3, 0, 1, 2]]
        angles = self.hinge_chains.angles_in_limits(rot.exp_map_to_quat(take(dof, -1, self._chain_cols)))
        qpos[..., self._chain_qpos.flatten()] = angles.flatten(-2)
        qpos[..., self._hng_qpos] = take(dof, -1, self._hng_cols)
        return qpos

    def qpos_to_dof(self, qpos):
        """MuJoCo qpos [..., nq] -> (root_pos [..., 3], root_rot [..., 4] xyzw, dof [..., num_dofs])."""
        a = self.root_qpos_adr
        root_pos = qpos[..., a:a + 3]
        root_rot = rot.quat_normalize(qpos[..., a + 3:a + 7][..., [1, 2, 3, 0]])
        dof = qpos.new_zeros(qpos.shape[:-1] + (self.num_dofs,))
        for j in self._balls:
            dof[..., self.joint_dof_slice(j)] = rot.quat_to_exp_map(qpos[..., j.qpos_adr][..., [1, 2, 3, 0]])
        e = rot.quat_to_exp_map(self.hinge_chains.to_quat(take(qpos, -1, self._chain_qpos)))  # [..., C, 3]
        dof[..., self._chain_cols.flatten()] = e.flatten(-2)
        dof[..., self._hng_cols] = take(qpos, -1, self._hng_qpos)
        return root_pos, root_rot, dof

    # ---------------- forward kinematics ----------------
    def forward_kinematics(self, root_pos, root_rot, dof):
        """root_pos [..., 3], root_rot [..., 4] (xyzw), dof [..., num_dofs]
        -> body_pos [..., num_bodies, 3], body_rot [..., num_bodies, 4] in the world frame.

        One tree level at a time, all bodies of the level together; per body:
        frame = parent * (offset, rest rotation), body rotation = frame rotation * joint rotation."""
        local = self.dof_to_local_rot(dof)
        pos, rots = [root_pos.unsqueeze(-2)], [root_rot.unsqueeze(-2)]  # per level [..., n, 3 | 4]
        for lv in self._consts(dof)["levels"]:
            p_pos, p_rot = pos[-1], rots[-1]
            if lv["parents"] is not None:
                p_pos, p_rot = take(p_pos, -2, lv["parents"]), take(p_rot, -2, lv["parents"])
            frame_rot = p_rot if lv["rests"] is None else rot.quat_mul(p_rot, lv["rests"])
            frame_pos = p_pos + rot.quat_rotate(p_rot, lv["offsets"])
            body_rot = rot.quat_mul(frame_rot, take(local, -2, lv["bodies"]))
            if lv["anchors"] is not None:
                # rotation about the joint anchor, which stays where the rest pose puts it
                anchor = lv["anchors"]
                frame_pos = frame_pos + rot.quat_rotate(frame_rot, anchor) - rot.quat_rotate(body_rot, anchor)
            pos.append(frame_pos)
            rots.append(body_rot)
        return take(torch.cat(pos, dim=-2), -2, self._fk_perm), take(torch.cat(rots, dim=-2), -2, self._fk_perm)


class GeomShapes:
    """Collision geoms of a character, for ground checks: lowest point of each geom per pose."""

    def __init__(self, char_model):
        """char_model: a KinCharModel, or a compiled MjModel (then on the CPU)."""
        if isinstance(char_model, mujoco.MjModel):
            m, name, dev = char_model, "<mjcf>", torch.device("cpu")
        else:
            m, name, dev = char_model.mjcf_model, char_model.file, char_model.device
        keep = [g for g in range(m.ngeom) if m.geom_bodyid[g] > 0]
        types = [int(m.geom_type[g]) for g in keep]
        supported = (mujoco.mjtGeom.mjGEOM_SPHERE, mujoco.mjtGeom.mjGEOM_CAPSULE, mujoco.mjtGeom.mjGEOM_BOX,
                     mujoco.mjtGeom.mjGEOM_CYLINDER)
        for g, t in zip(keep, types):
            if t not in supported:
                raise ValueError("%s: geom %d has type %d; ground checks support spheres, capsules, "
                                 "cylinders and boxes" % (name, g, t))
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
