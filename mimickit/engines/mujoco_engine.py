"""CPU engine: MuJoCo's own batch (``mujoco.batch.Batch``) steps N simulations of one model on a C
thread pool that releases the GIL; state moves to torch as whole [N, ...] arrays, with no Python
loop over envs. Results are identical at any thread count for a given seed.
"""
import mujoco
import numpy as np
import torch
from mujoco import batch as mj_batch

from mimickit.engines.engine import Engine
from mimickit.engines.scene import build_scene


class MujocoEngine(Engine):
    def __init__(self, config, char_file, num_envs, device="cpu", visualize=False, path="<engine config>"):
        super().__init__(config, char_file, num_envs, device, visualize, path)
        cfg = self.config
        self.model, self.body_names = build_scene(char_file, cfg["sim_freq"], self.control_mode,
                                                  cfg["self_collisions"], cfg["ground_friction"])
        m = self.model
        if m.njnt < 1 or m.jnt_type[0] != mujoco.mjtJoint.mjJNT_FREE:
            raise ValueError("%s: the character's root must have a free joint" % char_file)
        self.num_bodies = m.nbody - 1
        self.num_dofs = m.nu
        # actuated hinge coordinates, in actuator order (the MJCF's depth-first order)
        self._act_qpos = np.array([m.jnt_qposadr[m.actuator_trnid[a, 0]] for a in range(m.nu)])
        self._act_qvel = np.array([m.jnt_dofadr[m.actuator_trnid[a, 0]] for a in range(m.nu)])
        self.batch = mj_batch.Batch(m, nsim=self.num_envs, nthread=int(cfg["num_threads"]))
        self._qpos = self.batch.bind("qpos")  # [N, nq] live views of the state rows
        self._qvel = self.batch.bind("qvel")
        self._ctrl = self.batch.bind("ctrl")
        self._xpos = self.batch.bind("xpos")  # derived, refreshed after each call
        self._xquat = self.batch.bind("xquat")
        self._cvel = self.batch.bind("cvel")
        self._subtree_com = self.batch.bind("subtree_com")
        self._sensordata = self.batch.bind("sensordata")
        self._qpos[:] = m.qpos0
        self._ctrl[:] = m.qpos0[self._act_qpos] if self.control_mode == "pos" else 0.0
        self.batch.forward()
        self._refresh()

    # ---------------- stepping ----------------
    def set_cmd(self, cmd):
        """cmd [N, D]: PD targets (pos) or torques (torque)."""
        self._ctrl[:] = _to_numpy(cmd)

    def step(self):
        # stage VEL leaves positions, velocities and sensors computed at the new state
        self.batch.step(nstep=self.substeps, stage=mujoco.mjtStage.mjSTAGE_VEL)
        self._refresh()

    def _refresh(self):
        """Copy the state out of MuJoCo into torch once per step: [N, ...] tensors."""
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(self.device)
        qpos, qvel = self._qpos, self._qvel
        self._root_pos = t(qpos[:, 0:3])
        self._root_rot = t(qpos[:, [4, 5, 6, 3]])  # wxyz -> xyzw
        self._root_vel = t(qvel[:, 0:3])
        self._root_ang_vel_local = t(qvel[:, 3:6])  # MuJoCo's free joint: angular velocity in the body frame
        self._dof_pos = t(qpos[:, self._act_qpos])
        self._dof_vel = t(qvel[:, self._act_qvel])
        self._body_pos = t(self._xpos[:, 1:])
        self._body_rot = t(self._xquat[:, 1:][..., [1, 2, 3, 0]])
        cvel = t(self._cvel[:, 1:])  # [N, B, 6] (angular, linear) about the subtree centre of mass
        com = t(self._subtree_com[:, 1:2])  # [N, 1, 3]: all bodies share the root's subtree
        self._body_ang_vel = cvel[..., :3]
        self._body_vel = cvel[..., 3:] + torch.cross(cvel[..., :3], self._body_pos - com, dim=-1)
        sens = t(self._sensordata).view(self.num_envs, self.num_bodies, 4)  # found, force xyz
        self._contact_forces = -sens[..., 1:]  # the sensor reports the body's force on the world

    # ---------------- reads ----------------
    def get_root_pos(self): return self._root_pos
    def get_root_rot(self): return self._root_rot
    def get_root_vel(self): return self._root_vel

    def get_root_ang_vel(self):
        from mimickit.util.rotations import quat_rotate
        return quat_rotate(self._root_rot, self._root_ang_vel_local)

    def get_dof_pos(self): return self._dof_pos
    def get_dof_vel(self): return self._dof_vel
    def get_body_pos(self): return self._body_pos
    def get_body_rot(self): return self._body_rot
    def get_body_vel(self): return self._body_vel
    def get_body_ang_vel(self): return self._body_ang_vel
    def get_contact_forces(self): return self._contact_forces

    def get_dof_limits(self):
        m = self.model
        return torch.tensor(m.jnt_range[m.actuator_trnid[:, 0]], dtype=torch.float32, device=self.device)

    def get_torque_limits(self):
        m = self.model
        lim = m.actuator_forcerange[:, 1] if self.control_mode == "pos" else m.actuator_ctrlrange[:, 1]
        return torch.tensor(lim, dtype=torch.float32, device=self.device)

    # ---------------- writes ----------------
    def set_root_state(self, env_ids, root_pos, root_rot, root_vel, root_ang_vel):
        """Root state of env_ids [K]; rotation xyzw, velocities in the world frame."""
        from mimickit.util.rotations import quat_rotate_inverse
        ids = _to_numpy(env_ids).astype(np.int64)
        self._qpos[ids, 0:3] = _to_numpy(root_pos)
        self._qpos[ids, 3:7] = _to_numpy(root_rot)[:, [3, 0, 1, 2]]
        self._qvel[ids, 0:3] = _to_numpy(root_vel)
        local = quat_rotate_inverse(torch.as_tensor(root_rot, dtype=torch.float32).cpu(),
                                    torch.as_tensor(root_ang_vel, dtype=torch.float32).cpu())
        self._qvel[ids, 3:6] = local.numpy()
        self._dirty = np.union1d(getattr(self, "_dirty", np.zeros(0, np.int64)), ids)

    def set_dof_state(self, env_ids, dof_pos, dof_vel):
        ids = _to_numpy(env_ids).astype(np.int64)
        self._qpos[np.ix_(ids, self._act_qpos)] = _to_numpy(dof_pos)
        self._qvel[np.ix_(ids, self._act_qvel)] = _to_numpy(dof_vel)
        self._dirty = np.union1d(getattr(self, "_dirty", np.zeros(0, np.int64)), ids)

    def refresh_after_reset(self):
        """Recompute derived state (body poses, sensors) of envs whose state was written."""
        dirty = getattr(self, "_dirty", None)
        if dirty is not None and len(dirty):
            self.batch.forward(dirty)
            self._dirty = np.zeros(0, np.int64)
        self._refresh()

    def get_qpos(self):
        """Full MuJoCo qpos [N, nq] (for the kinematic model's conversions)."""
        return torch.from_numpy(self._qpos.astype(np.float32)).to(self.device)

    def close(self):
        self.batch = None


def _to_numpy(x):
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x)
