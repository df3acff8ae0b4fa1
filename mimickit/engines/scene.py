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
    # in both control modes, so that the character's inertia does not depend on the mode
    _stabilize_pd(spec, 1.0 / float(sim_freq))
    if control_mode == "torque":
        for act in spec.actuators:
            lo, hi = act.forcerange
            act.gaintype = mujoco.mjtGain.mjGAIN_FIXED
            act.gainprm = [1.0] + [0.0] * 9
            act.biastype = mujoco.mjtBias.mjBIAS_NONE
            act.biasprm = [0.0] * 10
            act.ctrllimited = 1
            act.ctrlrange = [lo, hi]
    model = spec.compile()
    return model, body_names


def _stabilize_pd(spec, h):
    """Raise the armature of each PD-driven hinge to at least kp * h^2.

    MuJoCo integrates a position actuator's damping implicitly but its stiffness explicitly, so a
    joint whose own inertia is small (a limb spinning about its long axis) oscillates with growing
    amplitude once kp * h^2 / inertia exceeds a few: with the humanoid's gains and armature 0.01 at
    120 Hz, random PD targets make the simulation diverge within a second. Armature >= kp * h^2
    keeps that ratio at most 1 whatever the link; at finer timesteps the MJCF's own value wins.
    """
    for act in spec.actuators:
        kp = -float(act.biasprm[1]) if act.biastype == mujoco.mjtBias.mjBIAS_AFFINE else 0.0
        if act.trntype != mujoco.mjtTrn.mjTRN_JOINT or kp <= 0.0:
            continue
        joint = spec.joint(act.target)
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
