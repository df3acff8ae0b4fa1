"""GPU engine: MuJoCo Warp (NVIDIA Warp) steps thousands of worlds of the same scene on one GPU.

The scene is the CPU engine's (``scene.build_scene``: same MJCF, ground, contact sensors, PD gains,
sim and control rates), so a policy trained here plays on the CPU engine. State is exchanged with
torch as zero-copy views of Warp's arrays (``wp.to_torch``); a control step (its substeps and the
kinematics at the new state) is captured once as a CUDA graph and replayed; resets write into the
views on the device, with no host round trip. Warp also runs on the CPU (slowly), which the tests use.

Contact and constraint buffers are sized per world from the model (``nconmax``, ``njmax``).
"""
import os

import numpy as np
import torch

import mujoco
import mujoco_warp as mjw
import warp as wp
from mujoco_warp._src import smooth as mjw_smooth

from mimickit.engines.engine import Engine
from mimickit.engines.scene import ActuatedDofs, build_scene
from mimickit.util.indexing import take
from mimickit.util.rotations import quat_rotate, quat_rotate_inverse

# most contacts MuJoCo makes between a geom of each type and a plane (sphere 1, capsule 2, ellipsoid 1,
# cylinder 4, box: up to all 8 corners); other types (meshes, ...) are given 8
PLANE_CONTACTS = {mujoco.mjtGeom.mjGEOM_SPHERE: 1, mujoco.mjtGeom.mjGEOM_CAPSULE: 2,
                  mujoco.mjtGeom.mjGEOM_ELLIPSOID: 1, mujoco.mjtGeom.mjGEOM_CYLINDER: 4,
                  mujoco.mjtGeom.mjGEOM_BOX: 8}
PAIR_CONTACTS = 4  # a character geom against another one (self-collisions)
# a world whose speeds exceed this (or hold NaN / Inf) has diverged; MuJoCo's own warning threshold
DIVERGED_QVEL = 1e6


@wp.kernel
def _reset_diverged_worlds(qpos: wp.array2d(dtype=float), qvel: wp.array2d(dtype=float),
                           qacc_warmstart: wp.array2d(dtype=float), qpos0: wp.array(dtype=float),
                           vel_limit: float, keep_flags: int, diverged: wp.array(dtype=wp.int32)):
    """One thread per world: a world holding NaN / Inf or huge speeds goes back to the initial pose
    at rest (as MuJoCo on the CPU does), flagged in diverged [N] (or-ed over the substeps)."""
    w = wp.tid()
    bad = int(0)
    for i in range(qpos.shape[1]):
        if not wp.isfinite(qpos[w, i]):
            bad = 1
    for i in range(qvel.shape[1]):
        if not (wp.abs(qvel[w, i]) <= vel_limit):  # false for NaN too
            bad = 1
    if keep_flags == 0:
        diverged[w] = bad
    elif bad == 1:
        diverged[w] = 1
    if bad == 1:
        for i in range(qpos.shape[1]):
            qpos[w, i] = qpos0[i]
        for i in range(qvel.shape[1]):
            qvel[w, i] = 0.0
            qacc_warmstart[w, i] = 0.0


_STREAMS = {}  # torch device -> the Warp stream every engine on it uses, kept for the process's life


def _shared_stream(torch_device):
    """Warp and torch share one stream, so torch's reads and writes are ordered with the graphs. It
    cannot be the legacy default stream, on which CUDA graphs cannot be captured, and it is made once
    per device: a Warp stream object that is garbage-collected unregisters its CUDA stream, which would
    break the next engine's capture (an env built after another was deleted)."""
    stream = _STREAMS.get(torch_device)
    if stream is None:
        torch_stream = torch.cuda.current_stream(torch_device)
        if torch_stream.cuda_stream == 0:
            torch_stream = torch.cuda.Stream(torch_device)
        stream = _STREAMS[torch_device] = (torch_stream, wp.stream_from_torch(torch_stream))
    torch.cuda.set_stream(stream[0])
    return stream[1]


def buffer_sizes(m):
    """-> (contacts, constraint rows) one world can need at most, from the model: every colliding
    geom resting on the plane at once, plus every pair of geoms that may collide with each other."""
    plane = [g for g in range(m.ngeom) if m.geom_type[g] == mujoco.mjtGeom.mjGEOM_PLANE]
    others = [g for g in range(m.ngeom) if m.geom_type[g] != mujoco.mjtGeom.mjGEOM_PLANE]

    def can_touch(a, b):
        return bool((m.geom_contype[a] & m.geom_conaffinity[b]) or (m.geom_contype[b] & m.geom_conaffinity[a]))

    contacts = sum(PLANE_CONTACTS.get(int(m.geom_type[g]), 8) for g in others for p in plane if can_touch(g, p))
    for i, a in enumerate(others):
        for b in others[i + 1:]:
            ba, bb = m.geom_bodyid[a], m.geom_bodyid[b]
            # MuJoCo skips geoms of one body, and of a body and its parent (unless told otherwise)
            if ba != bb and m.body_parentid[ba] != bb and m.body_parentid[bb] != ba and can_touch(a, b):
                contacts += PAIR_CONTACTS
    contacts = max(contacts, 1)
    # rows: a pyramidal friction cone of a condim-c contact has 2 (c - 1) (a frictionless one 1),
    # plus one per limited joint, and equality constraints
    max_condim = int(m.geom_condim.max()) if m.ngeom else 3
    rows_per_contact = max(1, 2 * (max_condim - 1))
    return contacts, contacts * rows_per_contact + m.njnt + 6 * m.neq


class MujocoWarpEngine(Engine):
    def __init__(self, config, char_file, num_envs, device="cuda:0", visualize=False, path="<engine config>"):
        super().__init__(config, char_file, num_envs, device, visualize, path)
        cfg = self.config
        wp.config.quiet = True
        wp.init()
        self.model, self.body_names = build_scene(char_file, cfg["sim_freq"], self.control_mode,
                                                  cfg["self_collisions"], cfg["ground_friction"])
        m = self.model
        self.torch_device = torch.device(device)
        self.wp_device = wp.device_from_torch(self.torch_device)
        self.num_bodies = m.nbody - 1
        self.num_dofs = m.nu
        self.dofs = ActuatedDofs(m, self.control_mode)  # the CPU engine's DoF order and limits
        as_t = lambda a: torch.as_tensor(a, device=self.torch_device)
        self._act_ids, self._act_qvel = as_t(self.dofs.act_ids), as_t(self.dofs.qvel_adr)
        self._act_qpos = as_t(self.dofs.qpos_cols)  # where DoF positions are written (a ball's: its quaternion)
        self.contacts_per_world, njmax = buffer_sizes(m)
        with wp.ScopedDevice(self.wp_device):
            self.wm = mjw.put_model(m)
            data = mujoco.MjData(m)
            mujoco.mj_forward(m, data)
            self.wd = mjw.put_data(m, data, nworld=self.num_envs,
                                  nconmax=self.contacts_per_world, njmax=njmax)
        # zero-copy torch views [N, ...] of the simulator's arrays
        v = lambda a: wp.to_torch(a)
        self._qpos, self._qvel, self._ctrl = v(self.wd.qpos), v(self.wd.qvel), v(self.wd.ctrl)
        self._xpos, self._xquat = v(self.wd.xpos), v(self.wd.xquat)
        self._cvel, self._subtree_com = v(self.wd.cvel), v(self.wd.subtree_com)
        self._sensordata = v(self.wd.sensordata)
        # quaternion component orders as device tensors (a Python list index is a host-to-device copy)
        self._root_rot_idx = torch.tensor([4, 5, 6, 3], device=self.torch_device)  # qpos wxyz -> xyzw
        self._xyzw_idx = torch.tensor([1, 2, 3, 0], device=self.torch_device)  # wxyz -> xyzw
        self._wxyz_idx = torch.tensor([3, 0, 1, 2], device=self.torch_device)  # xyzw -> wxyz
        self._reads = {}  # read name -> tensor, valid until the state changes (step, writes)
        self._ctrl[:, self._act_ids] = as_t(self.dofs.initial_cmd)
        with wp.ScopedDevice(self.wp_device):
            self._wp_qpos0 = wp.array(m.qpos0.astype(np.float32), dtype=float)
            self._wp_diverged = wp.zeros(self.num_envs, dtype=wp.int32)
        self._diverged = wp.to_torch(self._wp_diverged)  # [N] int32, 1: reset this step
        self._use_graph = self.wp_device.is_cuda and os.environ.get("MIMICKIT_WARP_GRAPH", "1") != "0"
        self._step_graph = self._refresh_graph = None
        if self._use_graph:
            self._stream = _shared_stream(self.torch_device)
            self._step_graph = self._capture(self._step_kernels)
            self._refresh_graph = self._capture(self._refresh_kernels)
        self._refresh_kernels_now()

    # ---------------- Warp launches ----------------
    def _step_kernels(self):
        for i in range(self.substeps):
            mjw.step(self.wm, self.wd)
            # after every substep, so a diverged world never feeds NaN to the next one's collisions
            wp.launch(_reset_diverged_worlds, dim=self.num_envs,
                      inputs=[self.wd.qpos, self.wd.qvel, self.wd.qacc_warmstart, self._wp_qpos0,
                              DIVERGED_QVEL, int(i > 0)],
                      outputs=[self._wp_diverged])
        self._refresh_kernels()

    def _refresh_kernels(self):
        """Positions, orientations and velocities of the bodies at the current state."""
        mjw.fwd_kinematics(self.wm, self.wd)
        mjw_smooth.com_vel(self.wm, self.wd)

    def _capture(self, fn):
        """CUDA graph of fn's launches. The warm-up run (which compiles and loads the kernels) would
        advance the worlds, so their state is restored afterwards: capturing leaves no trace."""
        saved = {name: wp.to_torch(getattr(self.wd, name)).clone()
                 for name in ("qpos", "qvel", "act", "qacc_warmstart", "time") if getattr(self.wd, name, None) is not None}
        with wp.ScopedDevice(self.wp_device), wp.ScopedStream(self._stream):
            fn()
            with wp.ScopedCapture(device=self.wp_device, stream=self._stream) as capture:
                fn()
        for name, value in saved.items():
            wp.to_torch(getattr(self.wd, name)).copy_(value)
        return capture.graph

    def _launch(self, graph, fn):
        if graph is not None:
            with wp.ScopedStream(self._stream):
                wp.capture_launch(graph)
        else:
            with wp.ScopedDevice(self.wp_device):
                fn()

    def _refresh_kernels_now(self):
        self._reads = {}
        self._launch(self._refresh_graph, self._refresh_kernels)

    # ---------------- stepping ----------------
    def set_cmd(self, cmd):
        """cmd [N, D]: PD targets (pos) or torques (torque)."""
        self._ctrl[:, self._act_ids] = cmd.to(self._ctrl)

    def step(self):
        """One control step on the device; no host round trip (diverged worlds are reset in the graph)."""
        self._reads = {}
        self._launch(self._step_graph, self._step_kernels)

    def get_unstable_mask(self):
        return self._diverged != 0

    def get_unstable_env_ids(self):
        return self._diverged.nonzero().flatten()  # waits for the GPU: the id path only

    def refresh_after_reset(self):
        self._refresh_kernels_now()

    # ---------------- reads: tensors [N, ...] copied out of the simulator ----------------
    # Each is computed on first use and kept until the state changes, like the CPU engine's reads: an
    # env step reads the same state many times, and on the GPU every copy is a kernel launch.
    def _read(self, name, fn):
        t = self._reads.get(name)
        if t is None:
            t = self._reads[name] = fn()
        return t

    def get_root_pos(self): return self._read("root_pos", lambda: self._qpos[:, 0:3].clone())
    def get_root_rot(self): return self._read("root_rot", lambda: take(self._qpos, 1, self._root_rot_idx))
    def get_root_vel(self): return self._read("root_vel", lambda: self._qvel[:, 0:3].clone())

    def get_root_ang_vel(self):
        # MuJoCo's free joint keeps its angular velocity in the body frame
        return self._read("root_ang_vel", lambda: quat_rotate(self.get_root_rot(), self._qvel[:, 3:6]))

    def get_dof_pos(self): return self._read("dof_pos", lambda: self.dofs.pos_from_qpos(self._qpos))

    def get_dof_vel(self): return self._read("dof_vel", lambda: take(self._qvel, 1, self._act_qvel))
    def get_body_pos(self): return self._read("body_pos", lambda: self._xpos[:, 1:].clone())
    def get_body_rot(self): return self._read("body_rot", lambda: take(self._xquat[:, 1:], 2, self._xyzw_idx))

    def get_body_vel(self):
        def body_vel():
            cvel = self._cvel[:, 1:]  # [N, B, 6] (angular, linear) about the root subtree's centre of mass
            return cvel[..., 3:] + torch.cross(cvel[..., :3], self._xpos[:, 1:] - self._subtree_com[:, 1:2], dim=-1)
        return self._read("body_vel", body_vel)

    def get_body_ang_vel(self): return self._read("body_ang_vel", lambda: self._cvel[:, 1:, :3].clone())

    def get_contact_forces(self):
        def forces():
            sens = self._sensordata.view(self.num_envs, self.num_bodies, 4)  # found, force xyz
            return -sens[..., 1:]  # the sensor reports the body's force on the world
        return self._read("contact_forces", forces)

    # ---------------- writes ----------------
    def set_root_state(self, env_ids, root_pos, root_rot, root_vel, root_ang_vel):
        ids = torch.as_tensor(env_ids, dtype=torch.long, device=self.torch_device)
        f = lambda x: torch.as_tensor(x, dtype=torch.float32, device=self.torch_device)
        root_rot = f(root_rot)
        self._reads = {}
        self._qpos[ids, 0:3] = f(root_pos)
        self._qpos[ids, 3:7] = take(root_rot, 1, self._wxyz_idx)
        self._qvel[ids, 0:3] = f(root_vel)
        self._qvel[ids, 3:6] = quat_rotate_inverse(root_rot, f(root_ang_vel))

    def set_dof_state(self, env_ids, dof_pos, dof_vel):
        ids = torch.as_tensor(env_ids, dtype=torch.long, device=self.torch_device).unsqueeze(-1)
        f = lambda x: torch.as_tensor(x, dtype=torch.float32, device=self.torch_device)
        self._reads = {}
        self._qpos[ids, self._act_qpos] = self.dofs.qpos_values(f(dof_pos))
        self._qvel[ids, self._act_qvel] = f(dof_vel)

    def set_state_where(self, mask, root_pos, root_rot, root_vel, root_ang_vel, dof_pos, dof_vel):
        """All N rows given, those where mask [N] is true written: fixed shapes, no host round trip."""
        self._reads = {}
        m = mask.unsqueeze(-1)  # [N, 1]
        root_q = torch.cat([root_pos, take(root_rot, 1, self._wxyz_idx)], dim=-1)  # [N, 7] free joint
        root_qd = torch.cat([root_vel, quat_rotate_inverse(root_rot, root_ang_vel)], dim=-1)  # [N, 6]
        self._qpos[:, 0:7] = torch.where(m, root_q, self._qpos[:, 0:7])
        self._qvel[:, 0:6] = torch.where(m, root_qd, self._qvel[:, 0:6])
        self._qpos[:, self._act_qpos] = torch.where(m, self.dofs.qpos_values(dof_pos),
                                                    take(self._qpos, 1, self._act_qpos))
        self._qvel[:, self._act_qvel] = torch.where(m, dof_vel, take(self._qvel, 1, self._act_qvel))

    def get_qpos(self):
        return self._qpos.clone()
