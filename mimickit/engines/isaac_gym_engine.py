"""Isaac Gym engine: NVIDIA Isaac Gym Preview 4 (PhysX) behind the Engine interface, for users who have it.

Isaac Gym is not on any package index; it needs Python 3.8 and must be imported before torch (run.py
does so when the engine YAML names isaac_gym). Here it is type-checked against the ``isaacgym-stubs``
package, not run: no machine of this project has it.

What it shares with the MuJoCo engines is the character's conventions: the PD gains, torque limits and
joint ranges are read from the scene the MuJoCo engines compile (``scene.build_scene``: <position>
actuators or <motor>s with joint stiffness / damping), and set as Isaac Gym DOF drive properties, so a
character is driven alike on every engine. State goes through Isaac Gym's tensor API: one root-state
row per env [N, 13] (position, quaternion xyzw, linear and angular velocity in the world frame), DOF
states [N, D, 2], rigid-body states [N, B, 13] and net contact forces [N, B, 3], reordered to the
MJCF's depth-first body and DoF order by name. Resets write rows and push them with the indexed setters.
"""
import os
from typing import List

import numpy as np
import torch
from isaacgym import gymapi
from isaacgym import gymtorch  # type: ignore[attr-defined]  # no stubs: wrap_tensor / unwrap_tensor

from mimickit.engines.engine import Engine
from mimickit.engines.scene import ActuatedDofs, build_scene


def _wrap(gym_tensor) -> torch.Tensor:
    return gymtorch.wrap_tensor(gym_tensor)


def _unwrap(t: torch.Tensor):
    return gymtorch.unwrap_tensor(t)


class IsaacGymEngine(Engine):
    def __init__(self, config, char_file, num_envs, device="cuda:0", visualize=False, path="<engine config>"):
        super().__init__(config, char_file, num_envs, device, visualize, path)
        cfg = self.config
        # the character as the MuJoCo engines see it: names, drives, limits, the starting pose
        model, self.body_names = build_scene(char_file, cfg["sim_freq"], self.control_mode, cfg["self_collisions"],
                                             cfg["ground_friction"])
        self.dofs = ActuatedDofs(model, self.control_mode)
        if self.dofs.has_balls:
            raise ValueError("%s: joint '%s' is a ball joint; the isaac_gym engine drives hinges only: write it as "
                             "three hinges, or use the mujoco or mujoco_warp engine"
                             % (char_file, model.joint(int(self.dofs.jnt_ids[self.dofs.ball_cols[0, 0]])).name))
        self.num_bodies = model.nbody - 1
        self.num_dofs = model.nu
        self._dof_names = [model.joint(int(j)).name for j in self.dofs.jnt_ids]  # MJCF depth-first order
        gains = model.actuator_gainprm[self.dofs.act_ids, 0] if self.control_mode == "pos" else np.zeros(model.nu)
        damping = -model.actuator_biasprm[self.dofs.act_ids, 2] if self.control_mode == "pos" else np.zeros(model.nu)

        self.gym = gymapi.acquire_gym()
        self._gpu = str(device).startswith("cuda")
        device_id = int(str(device).split(":")[1]) if ":" in str(device) else 0
        self.sim = self.gym.create_sim(device_id, device_id if visualize else -1, gymapi.SIM_PHYSX,
                                       self._sim_params())
        plane = gymapi.PlaneParams()
        plane.normal = gymapi.Vec3(0.0, 0.0, 1.0)
        plane.static_friction = plane.dynamic_friction = float(cfg["ground_friction"])
        self.gym.add_ground(self.sim, plane)
        asset = self._load_asset(char_file)
        self._check_names(asset)
        props = self._dof_props(asset, gains, damping)
        root = model.qpos0[:7]
        pose = gymapi.Transform()
        pose.p = gymapi.Vec3(float(root[0]), float(root[1]), float(root[2]))
        pose.r = gymapi.Quat(float(root[4]), float(root[5]), float(root[6]), float(root[3]))
        spacing = 0.0  # every env at the origin, as in MuJoCo; envs never collide with one another
        self._envs, self._actors = [], []
        per_row = int(np.sqrt(num_envs))
        for i in range(num_envs):
            env = self.gym.create_env(self.sim, gymapi.Vec3(-spacing, -spacing, 0.0),
                                      gymapi.Vec3(spacing, spacing, spacing), per_row)
            # collision filter 1: the character's shapes ignore each other (self_collisions off)
            actor = self.gym.create_actor(env, asset, pose, "character", i, 0 if cfg["self_collisions"] else 1, 0)
            self.gym.set_actor_dof_properties(env, actor, props)
            self._envs.append(env)
            self._actors.append(actor)
        self.gym.prepare_sim(self.sim)
        n, b, d = num_envs, self.num_bodies, self.num_dofs
        self._root = _wrap(self.gym.acquire_actor_root_state_tensor(self.sim)).view(n, 13)
        self._dof_state = _wrap(self.gym.acquire_dof_state_tensor(self.sim)).view(n, d, 2)
        self._bodies = _wrap(self.gym.acquire_rigid_body_state_tensor(self.sim)).view(n, b, 13)
        self._contacts = _wrap(self.gym.acquire_net_contact_force_tensor(self.sim)).view(n, b, 3)
        self._cmd = torch.zeros(n, d, device=self.device)
        self._cmd[:] = torch.as_tensor(self.dofs.initial_cmd, device=self.device)[self._dof_perm]
        self._viewer = self.gym.create_viewer(self.sim, gymapi.CameraProperties()) if visualize else None
        self._closed = False
        self._refresh()

    # ---------------- construction ----------------
    def _sim_params(self):
        p = gymapi.SimParams()
        p.dt = self.sim_timestep
        p.substeps = 1  # a control step is self.substeps calls of simulate()
        p.up_axis = gymapi.UP_AXIS_Z
        p.gravity = gymapi.Vec3(0.0, 0.0, -9.81)
        p.use_gpu_pipeline = self._gpu
        p.physx.use_gpu = self._gpu
        p.physx.solver_type = 1  # TGS
        p.physx.num_position_iterations = 4
        p.physx.num_velocity_iterations = 0
        p.physx.contact_offset = 0.02
        p.physx.rest_offset = 0.0
        p.physx.bounce_threshold_velocity = 0.2
        p.physx.max_depenetration_velocity = 10.0
        p.physx.num_threads = int(self.config["num_threads"]) or 4
        return p

    def _load_asset(self, char_file):
        options = gymapi.AssetOptions()
        options.angular_damping = 0.01
        options.max_angular_velocity = 100.0
        options.default_dof_drive_mode = int(gymapi.DOF_MODE_POS if self.control_mode == "pos"
                                              else gymapi.DOF_MODE_EFFORT)
        path = os.path.abspath(str(char_file))
        return self.gym.load_asset(self.sim, os.path.dirname(path), os.path.basename(path), options)

    def _check_names(self, asset):
        """Isaac Gym's body and DoF orders, mapped to the MJCF's depth-first ones by name."""
        bodies: List[str] = self.gym.get_asset_rigid_body_names(asset)
        dofs: List[str] = self.gym.get_asset_dof_names(asset)
        missing = [x for x in self.body_names if x not in bodies] + [x for x in self._dof_names if x not in dofs]
        if missing or len(dofs) != self.num_dofs:
            raise ValueError("%s: Isaac Gym's importer read bodies %s and DoFs %s; expected %s and %s"
                             % (self.char_file, bodies, dofs, self.body_names, self._dof_names))
        # ours[i] = theirs[perm[i]]; theirs[j] = ours[inv[j]]
        self._body_perm = torch.tensor([bodies.index(x) for x in self.body_names], device=self.device)
        self._dof_perm = torch.tensor([dofs.index(x) for x in self._dof_names], device=self.device)
        self._dof_inv = torch.argsort(self._dof_perm)

    def _dof_props(self, asset, gains, damping):
        """Isaac Gym's DOF property array (in its order) with our drives, ranges and torque limits."""
        props = self.gym.get_asset_dof_properties(asset)
        order = self._dof_perm.cpu().numpy()
        lim = np.abs(self.dofs.torque_limits)
        props["driveMode"][order] = int(gymapi.DOF_MODE_POS if self.control_mode == "pos" else gymapi.DOF_MODE_EFFORT)
        props["stiffness"][order] = gains
        props["damping"][order] = damping
        props["effort"][order] = lim
        props["lower"][order] = self.dofs.limits[:, 0]
        props["upper"][order] = self.dofs.limits[:, 1]
        return props

    # ---------------- stepping ----------------
    def set_cmd(self, cmd):
        """cmd [N, D] in the MJCF's DoF order: PD targets (pos) or torques (torque, clamped to the limits)."""
        cmd = torch.as_tensor(cmd, dtype=torch.float32, device=self.device)
        if self.control_mode == "torque":
            lim = torch.as_tensor(np.abs(self.dofs.torque_limits), device=self.device)
            cmd = torch.maximum(torch.minimum(cmd, lim), -lim)
        self._cmd = cmd[:, self._dof_inv].contiguous()  # Isaac Gym's order

    def step(self):
        for _ in range(self.substeps):
            if self.control_mode == "pos":
                self.gym.set_dof_position_target_tensor(self.sim, _unwrap(self._cmd))
            else:
                self.gym.set_dof_actuation_force_tensor(self.sim, _unwrap(self._cmd))
            self.gym.simulate(self.sim)
            if not self._gpu:
                self.gym.fetch_results(self.sim, True)
        if self._viewer is not None:
            self.gym.step_graphics(self.sim)
            self.gym.draw_viewer(self._viewer, self.sim, True)
            self.gym.sync_frame_time(self.sim)
        self._refresh()

    def _refresh(self):
        for refresh in (self.gym.refresh_actor_root_state_tensor, self.gym.refresh_dof_state_tensor,
                        self.gym.refresh_rigid_body_state_tensor, self.gym.refresh_net_contact_force_tensor):
            refresh(self.sim)

    # ---------------- reads (the MJCF's body and DoF order) ----------------
    def get_root_pos(self): return self._root[:, 0:3]
    def get_root_rot(self): return self._root[:, 3:7]
    def get_root_vel(self): return self._root[:, 7:10]
    def get_root_ang_vel(self): return self._root[:, 10:13]
    def get_dof_pos(self): return self._dof_state[:, self._dof_perm, 0]
    def get_dof_vel(self): return self._dof_state[:, self._dof_perm, 1]
    def get_body_pos(self): return self._bodies[:, self._body_perm, 0:3]
    def get_body_rot(self): return self._bodies[:, self._body_perm, 3:7]
    def get_body_vel(self): return self._bodies[:, self._body_perm, 7:10]
    def get_body_ang_vel(self): return self._bodies[:, self._body_perm, 10:13]
    def get_contact_forces(self): return self._contacts[:, self._body_perm]

    # ---------------- writes ----------------
    def _actor_ids(self, env_ids):
        return torch.as_tensor(env_ids, device=self.device).to(torch.int32)  # one actor per env, env i's is i

    def set_root_state(self, env_ids, root_pos, root_rot, root_vel, root_ang_vel):
        ids = torch.as_tensor(env_ids, device=self.device, dtype=torch.long)
        rows = torch.cat([torch.as_tensor(x, dtype=torch.float32, device=self.device)
                          for x in (root_pos, root_rot, root_vel, root_ang_vel)], dim=-1)
        self._root[ids] = rows
        actors = self._actor_ids(ids)
        self.gym.set_actor_root_state_tensor_indexed(self.sim, _unwrap(self._root), _unwrap(actors), len(actors))

    def set_dof_state(self, env_ids, dof_pos, dof_vel):
        ids = torch.as_tensor(env_ids, device=self.device, dtype=torch.long)
        pos = torch.as_tensor(dof_pos, dtype=torch.float32, device=self.device)[:, self._dof_inv]
        vel = torch.as_tensor(dof_vel, dtype=torch.float32, device=self.device)[:, self._dof_inv]
        self._dof_state[ids] = torch.stack([pos, vel], dim=-1)
        actors = self._actor_ids(ids)
        self.gym.set_dof_state_tensor_indexed(self.sim, _unwrap(self._dof_state), _unwrap(actors), len(actors))

    def refresh_after_reset(self):
        """Isaac Gym derives body states from written roots and DoFs only in its next simulate(); until
        then the rigid-body rows keep the old pose (a known property of its tensor API)."""
        self._refresh()

    def close(self):
        if self._viewer is not None:
            self.gym.destroy_viewer(self._viewer)
            self._viewer = None
        if not getattr(self, "_closed", True):
            self.gym.destroy_sim(self.sim)
        self._closed = True
