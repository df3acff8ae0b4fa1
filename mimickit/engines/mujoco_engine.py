"""CPU engine: MuJoCo's own batch (``mujoco.batch.Batch``) steps N simulations of one model on a C
thread pool that releases the GIL; state moves to torch as whole [N, ...] arrays, with no Python
loop over envs. Results are identical at any thread count for a given seed.
"""
import mujoco
import numpy as np
import torch
from mujoco import batch as mj_batch

from mimickit.engines.engine import Engine
from mimickit.engines.scene import ActuatedDofs, build_scene


class MujocoEngine(Engine):
    def __init__(self, config, char_file, num_envs, device="cpu", visualize=False, path="<engine config>"):
        super().__init__(config, char_file, num_envs, device, visualize, path)
        cfg = self.config
        self.model, self.body_names = build_scene(char_file, cfg["sim_freq"], self.control_mode,
                                                  cfg["self_collisions"], cfg["ground_friction"])
        m = self.model
        try:
            self.dofs = ActuatedDofs(m, self.control_mode)
        except ValueError as e:
            raise ValueError("%s: %s" % (char_file, e)) from e
        self.num_bodies = m.nbody - 1
        self.num_dofs = m.nu
        self._act_ids, self._act_qvel = self.dofs.act_ids, self.dofs.qvel_adr
        # persistent: one MjData per env (about 0.2 MB each), so a step continues from the position
        # and velocity stages the previous step computed for the observations instead of redoing
        # them (about 10% faster for the humanoid; results are bit-identical either way)
        self.batch = mj_batch.Batch(m, nsim=self.num_envs, nthread=int(cfg["num_threads"]), persistent=True)
        self._qpos = self.batch.bind("qpos")  # [N, nq] live views of the state rows
        self._qvel = self.batch.bind("qvel")
        self._ctrl = self.batch.bind("ctrl")
        self._xpos = self.batch.bind("xpos")  # derived, refreshed after each call
        self._xquat = self.batch.bind("xquat")
        self._cvel = self.batch.bind("cvel")
        self._subtree_com = self.batch.bind("subtree_com")
        self._sensordata = self.batch.bind("sensordata")
        self._sim_time = self.batch.bind("time")  # [N]; MuJoCo zeroes it when it resets a diverged sim
        self._unstable_ids = np.zeros(0, np.int64)
        self._qpos[:] = m.qpos0
        self._ctrl[:, self._act_ids] = self.dofs.initial_cmd
        self.batch.forward()
        self._refresh()

    # ---------------- stepping ----------------
    def set_cmd(self, cmd):
        """cmd [N, D]: PD targets (pos) or torques (torque)."""
        self._ctrl[:, self._act_ids] = _to_numpy(cmd)

    def step(self):
        t0 = self._sim_time.copy()
        # stage VEL leaves positions, velocities and sensors computed at the new state
        self.batch.step(nstep=self.substeps, stage=mujoco.mjtStage.mjSTAGE_VEL)
        # a sim that diverged (NaN / huge qpos, qvel, qacc) is reset to qpos0 by MuJoCo with only a
        # printed warning; its clock restarting is the trace (missed only at time 0, first substep)
        expected = t0 + (self.substeps - 0.5) * self.sim_timestep
        self._unstable_ids = np.nonzero(self._sim_time < expected)[0]
        self._refresh()

    def get_unstable_env_ids(self):
        """[K] ids of envs that MuJoCo reset in the last step because their state diverged."""
        return torch.from_numpy(self._unstable_ids).to(self.device)

    def _refresh(self):
        """Copy the state out of MuJoCo into torch once per step: fresh [N, ...] tensors.

        The gathering is numpy's (each MuJoCo array converted to float32 once, then sliced), with
        no torch op: torch's intra-op thread pool would contend with MuJoCo's threads for the
        cores. Body velocities and the world-frame root angular velocity are computed on first read.
        """
        f = lambda a: torch.from_numpy(a).to(self.device)
        qpos, qvel = self._qpos.astype(np.float32), self._qvel.astype(np.float32)
        self._root_pos = f(qpos[:, 0:3])
        self._root_rot = f(qpos[:, _ROOT_QUAT_XYZW])
        self._root_vel = f(qvel[:, 0:3])
        self._root_ang_vel_local = f(qvel[:, 3:6])  # MuJoCo's free joint: angular velocity in the body frame
        self._root_ang_vel = None
        self._dof_pos = f(self.dofs.pos_from_qpos(qpos))  # hinge angles, ball exp maps
        self._dof_vel = f(qvel[:, self._act_qvel])
        self._body_pos_np = self._xpos[:, 1:].astype(np.float32)
        self._body_pos = f(self._body_pos_np)
        self._body_rot = f(self._xquat[:, 1:, _QUAT_XYZW].astype(np.float32))
        self._cvel_np = self._cvel[:, 1:].astype(np.float32)  # [N, B, 6] (angular, linear) about the subtree CoM
        self._body_vel = None
        sens = self._sensordata.reshape(self.num_envs, self.num_bodies, 4)[..., 1:]  # found, force xyz
        self._contact_forces = f(np.negative(sens, dtype=np.float32))  # the sensor: the body's force on the world

    def _body_velocities(self):
        if self._body_vel is None:
            cvel = self._cvel_np
            com = self._subtree_com[:, 1:2].astype(np.float32)  # [N, 1, 3]: every body is in the root's subtree
            self._body_vel = torch.from_numpy(
                cvel[..., 3:] + np.cross(cvel[..., :3], self._body_pos_np - com)).to(self.device)
        return self._body_vel

    # ---------------- reads ----------------
    def get_root_pos(self): return self._root_pos
    def get_root_rot(self): return self._root_rot
    def get_root_vel(self): return self._root_vel

    def get_root_ang_vel(self):
        if self._root_ang_vel is None:
            from mimickit.util.rotations import quat_rotate
            self._root_ang_vel = quat_rotate(self._root_rot, self._root_ang_vel_local)
        return self._root_ang_vel

    def get_dof_pos(self): return self._dof_pos
    def get_dof_vel(self): return self._dof_vel
    def get_body_pos(self): return self._body_pos
    def get_body_rot(self): return self._body_rot
    def get_body_vel(self): return self._body_velocities()
    def get_body_ang_vel(self): return torch.from_numpy(self._cvel_np[..., :3]).to(self.device)
    def get_contact_forces(self): return self._contact_forces

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
        values = self.dofs.qpos_values(torch.as_tensor(dof_pos, dtype=torch.float64).cpu())
        self._qpos[np.ix_(ids, self.dofs.qpos_cols)] = _to_numpy(values)
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


_ROOT_QUAT_XYZW = np.array([4, 5, 6, 3])  # free joint qpos: position, then quaternion wxyz
_QUAT_XYZW = np.array([1, 2, 3, 0])


def _to_numpy(x):
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x)
