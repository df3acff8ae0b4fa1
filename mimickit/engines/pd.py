"""PD control as torques, and a one-joint step response in MuJoCo to judge gains by.

The humanoid's actuators are MuJoCo position servos: MuJoCo computes the PD torque itself (damping
implicitly, see ``scene.py``). Written out explicitly, per joint,

    tau = clip(kp (q_target - q) + kd (qdot_target - qdot), -torque_limit, torque_limit)

``joint_step_response`` applies such a torque law at every physics step to one hinge, the humanoid's
right forearm and hand (their masses and lengths) hanging from a fixed elbow under gravity, after a
step of the target from 0 to ``target`` rad, and measures what a controls course measures: overshoot
and settling time.
"""
from collections import namedtuple

import numpy as np
import torch

StepResponse = namedtuple("StepResponse", "t q tau overshoot settling_time final_error")

# the right elbow of data/assets/humanoid/humanoid.xml: forearm capsule (1 kg) and hand sphere (0.5 kg)
# below the joint, torque limit 60 N m; the hinge axis is horizontal, so gravity pulls on the forearm
_FOREARM_XML = """
<mujoco model="forearm">
  <option timestep="{dt}" gravity="0 0 -9.81" integrator="Euler"/>
  <worldbody>
    <body name="lower_arm" pos="0 0 1">
      <joint name="elbow" type="hinge" axis="0 -1 0" armature="0.01" damping="0"/>
      <geom type="capsule" fromto="0 0 -0.0525 0 0 -0.1875" size="0.04" mass="1"/>
      <geom type="sphere" pos="0 0 -0.258947" size="0.04" mass="0.5"/>
    </body>
  </worldbody>
  <actuator>
    <motor name="elbow" joint="elbow" gear="1"/>
  </actuator>
</mujoco>
"""


def pd_torque(q, qdot, q_target, kp, kd, torque_limit, qdot_target=0.0):
    """Explicit PD torques: all arguments broadcast (tensors or numbers) -> tau, clipped to +-torque_limit."""
    tau = kp * (q_target - q) + kd * (qdot_target - qdot)
    limit = torch.as_tensor(torque_limit, dtype=tau.dtype if torch.is_tensor(tau) else torch.float32)
    return torch.maximum(torch.minimum(torch.as_tensor(tau), limit), -limit)


def joint_step_response(kp, kd, torque_fn=pd_torque, target=1.0, seconds=1.5, torque_limit=60.0,
                        sim_freq=480, band=0.02):
    """Simulate the forearm's elbow from rest at 0 rad with target `target` from t = 0 -> StepResponse:
    t [T], q [T] (rad), tau [T] (N m), overshoot (fraction of the step beyond the target), settling
    time (s: the last time |q - target| left the band of `band` times the step; inf if never inside),
    final error (rad). torque_fn(q, qdot, q_target, kp, kd, torque_limit) computes each torque."""
    import mujoco
    model = mujoco.MjModel.from_xml_string(_FOREARM_XML.format(dt=1.0 / sim_freq))
    data = mujoco.MjData(model)
    steps = int(round(seconds * sim_freq))
    t, q, tau = np.zeros(steps), np.zeros(steps), np.zeros(steps)
    for i in range(steps):
        u = torque_fn(torch.tensor(float(data.qpos[0])), torch.tensor(float(data.qvel[0])), torch.tensor(target),
                      kp, kd, torque_limit)
        u = float(u)
        if not np.isfinite(u):
            raise ValueError("the torque law returned %r at t = %.3f s" % (u, i / sim_freq))
        data.ctrl[0] = float(np.clip(u, -torque_limit, torque_limit))  # the motor's own limit, whatever the law
        mujoco.mj_step(model, data)
        t[i], q[i], tau[i] = data.time, data.qpos[0], data.ctrl[0]
    err = np.abs(q - target)
    outside = np.nonzero(err > band * abs(target))[0]
    settling = 0.0 if len(outside) == 0 else (t[outside[-1]] if outside[-1] < steps - 1 else float("inf"))
    overshoot = max(0.0, float(np.max((q - target) * np.sign(target)))) / abs(target)
    if not np.all(np.isfinite(q)):
        overshoot, settling = float("inf"), float("inf")
    return StepResponse(t, q, tau, overshoot, settling, float(err[-1]))
