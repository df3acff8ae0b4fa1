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

# per world: a lying humanoid touches the ground with at most ~2 contacts per capsule and 4 per box
CONTACTS_PER_WORLD = 48
# pyramidal friction cones of condim-3 contacts use 4 rows each, plus joint-limit rows
ROWS_PER_CONTACT = 4


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
        self._act_ids, self._act_qpos, self._act_qvel = (as_t(self.dofs.act_ids), as_t(self.dofs.qpos_adr),
                                                         as_t(self.dofs.qvel_adr))
        njmax = CONTACTS_PER_WORLD * ROWS_PER_CONTACT + m.njnt
        with wp.ScopedDevice(self.wp_device):
            self.wm = mjw.put_model(m)
            data = mujoco.MjData(m)
            mujoco.mj_forward(m, data)
            self.wd = mjw.put_data(m, data, nworld=self.num_envs, nconmax=CONTACTS_PER_WORLD, njmax=njmax)
        # zero-copy torch views [N, ...] of the simulator's arrays
        v = lambda a: wp.to_torch(a)
        self._qpos, self._qvel, self._ctrl = v(self.wd.qpos), v(self.wd.qvel), v(self.wd.ctrl)
        self._xpos, self._xquat = v(self.wd.xpos), v(self.wd.xquat)
        self._cvel, self._subtree_com = v(self.wd.cvel), v(self.wd.subtree_com)
        self._sensordata = v(self.wd.sensordata)
        self._qpos0 = torch.as_tensor(m.qpos0, dtype=torch.float32, device=self.torch_device)
        # quaternion component orders as device tensors (a Python list index is a host-to-device copy)
        self._root_rot_idx = torch.tensor([4, 5, 6, 3], device=self.torch_device)  # qpos wxyz -> xyzw
        self._xyzw_idx = torch.tensor([1, 2, 3, 0], device=self.torch_device)  # wxyz -> xyzw
        self._wxyz_idx = torch.tensor([3, 0, 1, 2], device=self.torch_device)  # xyzw -> wxyz
        self._reads = {}  # read name -> tensor, valid until the state changes (step, writes)
        self._ctrl[:, self._act_ids] = as_t(self.dofs.initial_cmd)
        self._unstable = torch.zeros(0, dtype=torch.long, device=self.torch_device)
        self._use_graph = self.wp_device.is_cuda and os.environ.get("MIMICKIT_WARP_GRAPH", "1") != "0"
        self._step_graph = self._refresh_graph = None
        if self._use_graph:
            # Warp and torch share one stream, so torch's reads and writes are ordered with the graph;
            # it cannot be the legacy default stream, on which CUDA graphs cannot be captured
            torch_stream = torch.cuda.current_stream(self.torch_device)
            if torch_stream.cuda_stream == 0:
                torch_stream = torch.cuda.Stream(self.torch_device)
                torch.cuda.set_stream(torch_stream)
            self._stream = wp.stream_from_torch(torch_stream)
            self._step_graph = self._capture(self._step_kernels)
            self._refresh_graph = self._capture(self._refresh_kernels)
        self._refresh_kernels_now()

    # ---------------- Warp launches ----------------
    def _step_kernels(self):
        for _ in range(self.substeps):
            mjw.step(self.wm, self.wd)
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
        self._reads = {}
        self._launch(self._step_graph, self._step_kernels)
        # a diverged world holds NaN or huge values: reset it to the initial pose, as MuJoCo on the CPU does
        # (|qvel| <= 1e6 is false for NaN and Inf too)
        bad = ~((self._qvel.abs() <= 1e6).all(dim=-1) & torch.isfinite(self._qpos).all(dim=-1))
        self._unstable = bad.nonzero().flatten()
        if len(self._unstable) > 0:
            self._qpos[self._unstable] = self._qpos0
            self._qvel[self._unstable] = 0.0
            self._refresh_kernels_now()

    def get_unstable_env_ids(self):
        return self._unstable

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

    def get_dof_pos(self): return self._read("dof_pos", lambda: take(self._qpos, 1, self._act_qpos))
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
        self._qpos[ids, self._act_qpos] = f(dof_pos)
        self._qvel[ids, self._act_qvel] = f(dof_vel)

    def get_qpos(self):
        return self._qpos.clone()
