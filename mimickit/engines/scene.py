"""Builds the simulated scene from a character MJCF: ground plane, contact sensors, rates, control mode.

Every engine compiles the same scene, so the CPU and GPU engines simulate the same physics.
"""
import mujoco
import numpy as np
import torch

from mimickit.util.indexing import take
from mimickit.util.rotations import exp_map_to_quat, quat_to_exp_map


def build_scene(char_file, sim_freq, control_mode="pos", self_collisions=False, ground_friction=1.0):
    """-> (MjModel, body_names). One net-contact-force sensor per character body, in body order."""
    try:
        spec = mujoco.MjSpec.from_file(str(char_file))
    except Exception as e:
        raise ValueError("%s: MuJoCo could not load this MJCF: %s" % (char_file, e)) from e
    spec.option.timestep = 1.0 / float(sim_freq)
    char_geoms = list(spec.geoms)
    for g in char_geoms:
        # geoms always touch the ground; with self_collisions off they ignore each other
        g.contype = 1
        g.conaffinity = 1 if self_collisions else 0
    floor = spec.worldbody.add_geom()
    floor.name = "floor"
    floor.type = mujoco.mjtGeom.mjGEOM_PLANE
    floor.size = [0.0, 0.0, 1.0]
    floor.contype = 0
    floor.conaffinity = 1
    floor.friction = [ground_friction, 0.005, 0.0001]
    body_names = [b.name for b in spec.bodies if b.name and b.name != "world"]
    for name in body_names:
        sensor = spec.add_sensor()
        sensor.name = "contact_" + name
        sensor.type = mujoco.mjtSensor.mjSENS_CONTACT
        sensor.objtype = mujoco.mjtObj.mjOBJ_BODY
        sensor.objname = name
        # data = found (1) | force (2), reduce = netforce (3), one slot
        sensor.intprm = [3, 3, 1]
    note, gains = drive_actuators(spec, control_mode, char_file)
    if note:
        print(note, flush=True)
    # in both control modes, so that the character's inertia does not depend on the mode
    _stabilize_pd(spec, 1.0 / float(sim_freq), gains)
    _rest_on_the_ground(spec)
    model = spec.compile()
    return model, body_names


def _rest_on_the_ground(spec):
    """Move the root body so that the rest pose's lowest geom touches the ground (z = 0): a root written
    at the origin would start with the legs in the floor, and the contact solver would throw the
    character into the air. The floor itself is not counted."""
    from mimickit.anim.kin_char_model import GeomShapes
    model = spec.compile()
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    body_pos = torch.tensor(data.xpos[1:], dtype=torch.float64)
    body_rot = torch.tensor(data.xquat[1:][:, [1, 2, 3, 0]], dtype=torch.float64)
    lowest = float(GeomShapes(model).min_heights(body_pos, body_rot).min())
    root = spec.worldbody.first_body()
    root.pos = [root.pos[0], root.pos[1], root.pos[2] - lowest]


def _limited(flag, rng):
    """MJCF's limited flags: true, false, or auto (limited where a range is given)."""
    return flag == mujoco.mjtLimited.mjLIMITED_TRUE or (flag == mujoco.mjtLimited.mjLIMITED_AUTO and rng[0] < rng[1])


def drive_actuators(spec, control_mode, char_file="<mjcf>"):
    """Make every actuator the drive the engines expect: a PD position servo (``control_mode: pos``:
    ctrl = target angle) or a motor of gain 1 (``torque``: ctrl = torque), acting on one hinge with gear 1
    and a torque limit. Characters come in two conventions:

    - ``<position>`` actuators with kp, kv and forcerange (ours);
    - ``<motor>`` actuators, the PD gains given as the joints' ``stiffness`` and ``damping`` and the torque
      limit as the joint's ``actuatorfrcrange`` or the motor's ``gear`` (MimicKit's and Isaac Gym's): the
      joint's passive spring and damper are then removed (they are the drive's gains, not the joint's).

    A hinge has one actuator with gear 1; a ball joint three, with gears along its x, y and z axes: MuJoCo's
    length of such an actuator is that component of the ball's exp map, so each drives one exp-map coordinate.
    -> (one line saying what was converted, None where nothing was; {joint name: PD stiffness kp}).
    Anything else (a tendon, an actuator on a tendon or a slide, a ball joint without one actuator per axis,
    a motor with no gain in pos mode, no torque limit) raises ValueError naming it and what is expected."""
    if len(spec.tendons) > 0:
        raise ValueError("%s: tendon '%s': tendons are not supported; drive each joint with its own actuator"
                         % (char_file, spec.tendons[0].name))
    targets = [act.target for act in spec.actuators]
    for joint in spec.joints if targets else []:  # no actuator at all: a character for playback only
        need = 3 if joint.type == mujoco.mjtJoint.mjJNT_BALL else 1
        if joint.type != mujoco.mjtJoint.mjJNT_FREE and targets.count(joint.name) != need:
            n = targets.count(joint.name)
            raise ValueError("%s: joint '%s' has %s; every %s of the character needs exactly %s"
                             % (char_file, joint.name, "no actuator" if n == 0 else "%d actuators" % n,
                                "ball joint" if need == 3 else "joint",
                                "three actuators, with gears along its x, y and z axes" if need == 3 else "one actuator"))
    fixed, affine = mujoco.mjtGain.mjGAIN_FIXED, mujoco.mjtBias.mjBIAS_AFFINE
    motors, limit_sources, gains, ball_axes = 0, set(), {}, {}
    for act in spec.actuators:
        name = act.name or act.target
        if act.trntype != mujoco.mjtTrn.mjTRN_JOINT:
            raise ValueError("%s: actuator '%s' does not drive a joint; expected one actuator per hinge joint"
                             % (char_file, name))
        joint = spec.joint(act.target)
        gear_vec = [float(g) for g in act.gear[:3]]
        if joint.type == mujoco.mjtJoint.mjJNT_BALL:
            # a ball's actuator acts about its gear axis, and its length is that component of the ball's
            # exp map: a unit axis makes it one exp-map coordinate, driven like a hinge
            if sorted(abs(g) for g in gear_vec) != [0.0, 0.0, 1.0] or max(gear_vec) != 1.0:
                raise ValueError("%s: actuator '%s' on ball joint '%s' has gear %s; expected one of the axes "
                                 "1 0 0, 0 1 0, 0 0 1 (one actuator per axis)"
                                 % (char_file, name, act.target, " ".join("%g" % g for g in gear_vec)))
            ball_axes.setdefault(act.target, set()).add(gear_vec.index(1.0))
            gear_vec = [1.0, 0.0, 0.0]
        elif joint.type != mujoco.mjtJoint.mjJNT_HINGE:
            raise ValueError("%s: actuator '%s' drives joint '%s', which is neither a hinge nor a ball joint"
                             % (char_file, name, act.target))
        gear = gear_vec[0]
        is_motor = act.gaintype == fixed and act.biastype == mujoco.mjtBias.mjBIAS_NONE
        if is_motor:
            kp, kd = float(joint.stiffness[0]), float(joint.damping[0])
            joint.stiffness = [0.0] * len(joint.stiffness)
            joint.damping = [0.0] * len(joint.damping)
            motors += 1
        elif act.gaintype == fixed and act.biastype == affine and abs(gear - 1.0) < 1e-9:
            kp, kd = -float(act.biasprm[1]), -float(act.biasprm[2])
        else:
            raise ValueError("%s: actuator '%s' on joint '%s' is neither a <position> actuator (gear 1) nor a "
                             "<motor>; expected one of those" % (char_file, name, act.target))
        if _limited(act.forcelimited, act.forcerange):
            lo, hi = (float(x) for x in act.forcerange)
            limit_sources.add("forcerange")
        elif _limited(joint.actfrclimited, joint.actfrcrange):
            lo, hi = (float(x) for x in joint.actfrcrange)
            limit_sources.add("actuatorfrcrange")
        elif is_motor and gear > 0:
            c = max(abs(float(x)) for x in act.ctrlrange) if _limited(act.ctrllimited, act.ctrlrange) else 1.0
            lo, hi = -gear * c, gear * c
            limit_sources.add("gear")
        else:
            raise ValueError("%s: actuator '%s' on joint '%s' has no torque limit: give the actuator a forcerange "
                             "or the joint an actuatorfrcrange" % (char_file, name, act.target))
        if control_mode == "pos" and kp <= 0.0:
            raise ValueError("%s: joint '%s' has a <motor> but no stiffness: PD control needs the joint's stiffness "
                             "(and damping) as its gains, a <position> actuator, or control_mode: torque"
                             % (char_file, act.target))
        gains[act.target] = kp
        if joint.type != mujoco.mjtJoint.mjJNT_BALL:
            act.gear = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        act.gaintype = fixed
        act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
        act.forcerange = [lo, hi]
        if control_mode == "pos":
            act.gainprm = [kp] + [0.0] * 9
            act.biastype = affine
            act.biasprm = [0.0, -kp, -kd] + [0.0] * 7
            act.ctrllimited = mujoco.mjtLimited.mjLIMITED_FALSE
        else:
            act.gainprm = [1.0] + [0.0] * 9
            act.biastype = mujoco.mjtBias.mjBIAS_NONE
            act.biasprm = [0.0] * 10
            act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
            act.ctrlrange = [lo, hi]
    for joint_name, axes in ball_axes.items():
        if len(axes) != 3:
            raise ValueError("%s: ball joint '%s' has two actuators on one axis; expected one per axis x, y, z"
                             % (char_file, joint_name))
    if motors == 0:
        return None, gains
    what = ("PD position servos with the joints' stiffness and damping as gains" if control_mode == "pos"
            else "torque motors of gain 1")
    return ("%s: %d <motor> actuators driven as %s (the joints' passive springs and dampers removed; torque "
            "limits from %s)" % (char_file, motors, what, " and ".join(sorted(limit_sources)))), gains


def _stabilize_pd(spec, h, gains):
    """Raise the armature of each PD-driven hinge to at least kp * h^2.

    MuJoCo integrates a position actuator's damping implicitly but its stiffness explicitly, so a
    joint whose own inertia is small (a limb spinning about its long axis) oscillates with growing
    amplitude once kp * h^2 / inertia exceeds a few: with the humanoid's gains and armature 0.01 at
    120 Hz, random PD targets make the simulation diverge within a second. Armature >= kp * h^2
    keeps that ratio at most 1 whatever the link; at finer timesteps the MJCF's own value wins.
    gains: {joint name: kp}, in torque mode too (the inertia then does not depend on the mode).
    """
    for name, kp in gains.items():
        if kp > 0.0:
            joint = spec.joint(name)
            joint.armature = max(float(joint.armature), kp * h * h)


class ActuatedDofs:
    """The character's actuated DoFs in the MJCF's depth-first (qvel) order, the order of
    KinCharModel.sim_dof_names(): each hinge's angle, and each ball joint's exp map (x, y, z; its qpos is a
    quaternion, its qvel the angular velocity in the child frame). The <actuator> block may list them in
    another order, so ``act_ids[i]`` is the actuator that drives DoF i. Numpy arrays [D]; engines move them
    to torch, read positions through ``pos_from_qpos`` and write ``qpos_values`` at ``qpos_cols``."""

    def __init__(self, model, control_mode="pos"):
        m = model
        if m.njnt < 1 or m.jnt_type[0] != mujoco.mjtJoint.mjJNT_FREE:
            raise ValueError("the character's root must have a free joint")
        jnt = m.actuator_trnid[:, 0]
        is_ball = m.jnt_type[jnt] == mujoco.mjtJoint.mjJNT_BALL  # [nu]
        axis = np.where(is_ball, np.argmax(np.abs(m.actuator_gear[:, :3]), axis=1), 0)  # a ball actuator's axis
        act_qvel = m.jnt_dofadr[jnt] + axis
        self.act_ids = np.argsort(act_qvel, kind="stable")
        self.jnt_ids = jnt[self.act_ids]
        self.qvel_adr = act_qvel[self.act_ids]
        ball = is_ball[self.act_ids]  # [D]
        self.hinge_cols = np.nonzero(~ball)[0]  # [H] DoFs that are hinge angles
        self.hinge_qpos = m.jnt_qposadr[self.jnt_ids[~ball]]  # [H]
        self.ball_cols = np.nonzero(ball)[0].reshape(-1, 3)  # [G, 3] DoFs that are a ball's exp map x, y, z
        self.ball_qpos = m.jnt_qposadr[self.jnt_ids[self.ball_cols[:, 0]]] if len(self.ball_cols) else \
            np.zeros(0, np.int64)  # [G] first qpos (w) of each ball's quaternion
        # where DoF positions are written: the hinges' angles, then each ball's quaternion (wxyz) [H + 4G]
        self.qpos_cols = np.concatenate([self.hinge_qpos, (self.ball_qpos[:, None] + np.arange(4)).reshape(-1)])
        self._index_cache = {}  # device -> the index arrays as torch tensors
        # limits [D, 2]: the hinges' ranges; a ball's exp map has none per coordinate (MuJoCo keeps its cone)
        self.limits = np.where(ball[:, None], np.array([-np.inf, np.inf]), m.jnt_range[self.jnt_ids]).astype(np.float32)
        force_lim = m.actuator_forcerange[:, 1] if control_mode == "pos" else m.actuator_ctrlrange[:, 1]
        self.torque_limits = force_lim[self.act_ids].astype(np.float32)  # [D]
        # the command that holds the model's default pose (pos) or applies no torque (torque) [D]
        self.initial_cmd = (self.pos_from_qpos(np.asarray(m.qpos0, np.float64)[None])[0] if control_mode == "pos"
                            else np.zeros(m.nu)).astype(np.float32)

    @property
    def has_balls(self):
        return len(self.ball_cols) > 0

    def pos_from_qpos(self, qpos):
        """qpos [N, nq] (numpy or torch) -> DoF positions [N, D]: hinge angles, ball exp maps."""
        if not self.has_balls:
            return qpos[:, self.hinge_qpos] if isinstance(qpos, np.ndarray) else \
                take(qpos, 1, self._indices(qpos.device)["hinge_qpos"])
        q = torch.as_tensor(qpos)
        out = q.new_zeros(q.shape[0], len(self.qvel_adr))
        i = self._indices(q.device)
        out[:, i["hinge_cols"]] = q[:, i["hinge_qpos"]]
        wxyz = q[:, i["ball_quat"]].view(q.shape[0], -1, 4)
        out[:, i["ball_cols"]] = quat_to_exp_map(wxyz[..., [1, 2, 3, 0]]).flatten(1)
        return out if torch.is_tensor(qpos) else out.numpy()

    def qpos_values(self, pos):
        """DoF positions [K, D] (torch) -> the values [K, C] to write at qpos columns ``qpos_cols``."""
        if not self.has_balls:
            return pos
        i = self._indices(pos.device)
        quat = exp_map_to_quat(pos[:, i["ball_cols"]].view(pos.shape[0], -1, 3))
        return torch.cat([pos[:, i["hinge_cols"]], quat[..., [3, 0, 1, 2]].flatten(1)], dim=1)

    def _indices(self, device):
        """The index arrays as torch tensors on device, made once (a CUDA graph cannot copy from the host)."""
        if device not in self._index_cache:
            t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.long, device=device)
            self._index_cache[device] = dict(hinge_cols=t(self.hinge_cols), hinge_qpos=t(self.hinge_qpos),
                                             ball_cols=t(self.ball_cols.reshape(-1)),
                                             ball_quat=t(self.qpos_cols[len(self.hinge_qpos):]))
        return self._index_cache[device]
