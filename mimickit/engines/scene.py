"""Builds the simulated scene from a character MJCF: ground plane, contact sensors, rates, control mode.

Every engine compiles the same scene, so the CPU and GPU engines simulate the same physics.
"""
import mujoco


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
