"""Builds the simulated scene from a character MJCF: ground plane, contact sensors, rates, control mode.

Every engine compiles the same scene, so the CPU and GPU engines simulate the same physics.
"""
import mujoco
import numpy as np


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
    import torch

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

    -> (one line saying what was converted, None where nothing was; {joint name: PD stiffness kp}).
    Anything else (a tendon, an actuator
    on a ball joint or a tendon, a motor with no gain in pos mode, no torque limit) raises ValueError
    naming it and what is expected."""
    if len(spec.tendons) > 0:
        raise ValueError("%s: tendon '%s': tendons are not supported; drive each joint with its own actuator"
                         % (char_file, spec.tendons[0].name))
    targets = [act.target for act in spec.actuators]
    for joint in spec.joints if targets else []:  # no actuator at all: a character for playback only
        if joint.type != mujoco.mjtJoint.mjJNT_FREE and targets.count(joint.name) != 1:
            n = targets.count(joint.name)
            raise ValueError("%s: joint '%s' has %s; every joint of the character needs exactly one actuator"
                             % (char_file, joint.name, "no actuator" if n == 0 else "%d actuators" % n))
    fixed, affine = mujoco.mjtGain.mjGAIN_FIXED, mujoco.mjtBias.mjBIAS_AFFINE
    motors, limit_sources, gains = 0, set(), {}
    for act in spec.actuators:
        name = act.name or act.target
        if act.trntype != mujoco.mjtTrn.mjTRN_JOINT:
            raise ValueError("%s: actuator '%s' does not drive a joint; expected one actuator per hinge joint"
                             % (char_file, name))
        joint = spec.joint(act.target)
        if joint.type != mujoco.mjtJoint.mjJNT_HINGE:
            raise ValueError("%s: actuator '%s' drives joint '%s', which is not a hinge; the engines drive hinges "
                             "(write a ball joint as three hinges)" % (char_file, name, act.target))
        gear = float(act.gear[0])
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
    """The character's actuated hinges in the MJCF's depth-first (qpos) order, the order of
    KinCharModel.sim_dof_names(). The <actuator> block may list them in another order, so
    ``act_ids[i]`` is the actuator that drives DoF i. Numpy arrays [D]; engines move them to torch."""

    def __init__(self, model, control_mode="pos"):
        m = model
        if m.njnt < 1 or m.jnt_type[0] != mujoco.mjtJoint.mjJNT_FREE:
            raise ValueError("the character's root must have a free joint")
        act_qpos = np.array([m.jnt_qposadr[m.actuator_trnid[a, 0]] for a in range(m.nu)])
        self.act_ids = np.argsort(act_qpos, kind="stable")
        self.jnt_ids = m.actuator_trnid[self.act_ids, 0]
        self.qpos_adr = m.jnt_qposadr[self.jnt_ids]
        self.qvel_adr = m.jnt_dofadr[self.jnt_ids]
        self.limits = m.jnt_range[self.jnt_ids].astype(np.float32)  # [D, 2]
        force_lim = m.actuator_forcerange[:, 1] if control_mode == "pos" else m.actuator_ctrlrange[:, 1]
        self.torque_limits = force_lim[self.act_ids].astype(np.float32)  # [D]
        # the command that holds the model's default pose (pos) or applies no torque (torque) [D]
        self.initial_cmd = (m.qpos0[self.qpos_adr] if control_mode == "pos" else np.zeros(m.nu)).astype(np.float32)
