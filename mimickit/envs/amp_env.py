"""AMPEnv (Peng et al. 2021): the character, a motion dataset, and what AMP's discriminator looks at.

There is no clip to track and no tracking reward (the reward is the task's; the agent adds the style
reward). From MotionEnv it takes reference state initialization (each episode starts in the state of a
random clip at a random time) and, from CharEnv, early termination when a body other than the
contact bodies touches the ground. An episode runs on past the end of its clip.

Discriminator observation (``info["disc_obs"]`` after every step, [N, disc_obs_dim]): the window of
the last S = ``num_disc_obs_steps`` character states at the control rate, oldest first, each expressed
relative to the newest state's root (positions from its root position, directions turned by its
heading, the yaw), so the window looks the same wherever the character is and whichever way it faces:

    root position relative to the newest root (x, y) and the root height (z)     3
    root rotation, tan-norm                                                       6
    root linear and angular velocity                                              3 + 3
    joint rotations (local, tan-norm), per movable joint                          6 J
    joint velocities (motion layout: 3-DoF joints' angular velocity, hinge rates) num_dofs
    key-body positions relative to that state's own root                          3 K

The dataset's windows come from ``sample_disc_obs_demo(n)``: a clip by weight, a time uniform over
it, and the S frames at that time and the S - 1 control steps before it, through the same function.
A reset fills the window with the reference frames before the start, so the first steps of an
episode look like the dataset up to the start.

Hybrid initialization (``init_pose_prob``, as ASE trains): each new episode starts, with this probability,
from the character's initial pose at rest (``init_pose`` or the rest pose, on the ground) instead of a
dataset frame, its window filled with that standing state. A policy trained from dataset frames alone never
starts at rest, and from the standing pose a controller (or a test) may well fall.
"""
import torch

from mimickit.anim.motion_lib import MotionFrame
from mimickit.engines.engine import ConfigError
from mimickit.envs.base_env import _compile_or_eager
from mimickit.envs.motion_env import MotionEnv
from mimickit.util import rotations as rot
from mimickit.util.indexing import take


class AMPEnv(MotionEnv):
    CONFIG_KEYS = dict(MotionEnv.CONFIG_KEYS, **{
        "key_bodies": ["head", "right_hand", "left_hand", "right_foot", "left_foot"],
        "num_disc_obs_steps": 10,  # states per discriminator window (the newest included)
        "init_pose_prob": 0.0,  # hybrid initialization: the share of episodes that start standing at rest
    })

    def __init__(self, config, engine_config_file, num_envs, device="cpu", visualize=False,
                 path="<env config>"):
        super().__init__(config, engine_config_file, num_envs, device, visualize, path)
        steps = self.config["num_disc_obs_steps"]
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
            raise ConfigError("%s: num_disc_obs_steps is %r; expected an integer >= 2 (a window of states)"
                              % (path, steps))
        self.num_disc_obs_steps = steps
        p = self.config["init_pose_prob"]
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ConfigError("%s: init_pose_prob is %r; expected a probability in [0, 1]" % (path, p))
        # a reset also looks up the steps before the start (column 0 is the start): the first window
        self._reset_offsets = -self.dt * torch.arange(steps, dtype=torch.float32, device=self.device)  # [S]
        self._layout = (len(self._joint_body_ids), self.char_model.num_dofs, len(self._key_ids))
        self._window = torch.zeros(self.num_envs, steps, disc_frame_size(*self._layout), device=self.device)
        self._disc_obs = torch.zeros(self.num_envs, self.disc_obs_dim, device=self.device)  # [N, S * F]
        self._standing_row = self._initial_pose_row()  # [frame_size]: hybrid initialization's window rows
        # AMP draws as many dataset windows per iteration as it collects samples (S frames each, with
        # forward kinematics): on the GPU one compiled function instead of hundreds of small kernels
        self._demo_obs_fn = _compile_or_eager(self._demo_obs) if self.compile_step else self._demo_obs

    @property
    def disc_obs_dim(self):
        return self.num_disc_obs_steps * disc_obs_frame_dim(*self._layout)

    # ---------------- the window ----------------
    def _sim_disc_frame(self):
        """The simulated characters' current state as window rows [N, frame_size]."""
        return sim_disc_frame(self.engine, self.char_model, self._joint_body_ids, self._key_ids)

    def _window_rows(self, frames):
        """A MotionFrame [K, S] (with_body not needed) -> window rows [K, S, frame_size], in its order."""
        return ref_disc_frame(frames, self.char_model, self._joint_body_ids, self._key_ids)

    def _ref_disc_frames(self, frames):
        """A MotionFrame [K, S] looked up at times t, t - dt, ... -> window rows [K, S, frame_size], oldest first."""
        return self._window_rows(frames).flip(1)

    def disc_obs_from_frames(self, frames):
        """Discriminator observations [K, disc_obs_dim] of any motion: frames, a MotionFrame [K, S] of S
        states one control step apart, oldest first (e.g. a lookup of some other MotionLib)."""
        return compute_disc_obs(self._window_rows(frames), *self._layout)

    def _initial_pose_row(self):
        """The window row [frame_size] of the initial pose at rest (CharEnv's initial state)."""
        km = self.char_model
        dof = km.sim_to_dof(self._init_dof_pos)
        zeros = torch.zeros(3, device=self.device)
        pose = MotionFrame(self._init_root_pos, self._init_root_rot, zeros, zeros, km.dof_to_local_rot(dof), dof,
                           torch.zeros_like(dof), None, None)
        return self._window_rows(pose)

    # ---------------- hybrid initialization ----------------
    def _reset_envs(self, env_ids):
        super()._reset_envs(env_ids)  # dataset frames, and their windows
        if self.config["init_pose_prob"] > 0:
            env_ids = torch.as_tensor(env_ids, device=self.device)
            standing = env_ids[torch.rand(len(env_ids), device=self.device) < self.config["init_pose_prob"]]
            if len(standing) > 0:
                self.set_char_state(standing, *self._initial_state(len(standing)))
                self._window[standing] = self._standing_row

    def _reset_envs_where(self, mask):
        super()._reset_envs_where(mask)
        if self.config["init_pose_prob"] > 0:
            standing = mask & (torch.rand(self.num_envs, device=self.device) < self.config["init_pose_prob"])
            self.set_char_state_where(standing, *self._initial_state(self.num_envs))
            self._window = torch.where(standing[:, None, None], self._standing_row, self._window)

    def _on_reset(self, env_ids, frames):
        self._window[env_ids] = self._ref_disc_frames(frames)

    def _on_reset_where(self, mask, frames):
        self._window = torch.where(mask[:, None, None], self._ref_disc_frames(frames), self._window)

    def _update_state(self):
        super()._update_state()
        self._window = torch.cat([self._window[:, 1:], self._sim_disc_frame().unsqueeze(1)], dim=1)
        self._disc_obs = self.get_disc_obs()  # the window this step reached, kept through the resets

    def get_disc_obs(self):
        """[N, disc_obs_dim] of the current windows (what the last step reported, for envs not reset since)."""
        return compute_disc_obs(self._window, *self._layout)

    def step(self, action):
        obs, reward, done, info = super().step(action)
        info["disc_obs"] = self._disc_obs  # before any reset, like terminal_obs
        return obs, reward, done, info

    # ---------------- the dataset's windows ----------------
    def sample_disc_obs_demo(self, n, return_times=False):
        """n windows of the dataset -> disc obs [n, disc_obs_dim]; with return_times also the clip ids [n]
        and the times [n, S] (oldest first) of their frames."""
        ids = self.motion_lib.sample_motions(n)
        t = self.motion_lib.sample_time(ids)
        obs = self._demo_obs_fn(ids, t)
        return (obs, ids, (t.unsqueeze(-1) + self._reset_offsets).flip(1)) if return_times else obs

    def _demo_obs(self, ids, t):
        """Clip ids [n], times [n] -> disc obs [n, disc_obs_dim] of the windows ending at those times."""
        times = t.unsqueeze(-1) + self._reset_offsets  # [n, S]: t, t - dt, ...
        frames = self.motion_lib.calc_motion_frame(ids.unsqueeze(-1), times, with_body=False)
        return compute_disc_obs(self._ref_disc_frames(frames), *self._layout)


def sim_disc_frame(engine, char_model, joint_body_ids, key_ids):
    """The simulated characters' current state as raw rows [N, frame_size] (disc_frame)."""
    e, km = engine, char_model
    dof_pos = e.get_dof_pos()
    joint_rot = take(km.dof_to_local_rot(km.sim_to_dof(dof_pos)), 1, joint_body_ids)  # [N, J, 4]
    dof_vel = km.sim_vel_to_dof_vel(dof_pos, e.get_dof_vel())  # [N, num_dofs]
    return disc_frame(e.get_root_pos(), e.get_root_rot(), e.get_root_vel(), e.get_root_ang_vel(), joint_rot,
                      dof_vel, take(e.get_body_pos(), 1, key_ids))


def ref_disc_frame(frames, char_model, joint_body_ids, key_ids):
    """A MotionFrame [...] (any batch shape; body poses from forward kinematics unless given) -> raw rows
    [..., frame_size] (disc_frame)."""
    body_pos = frames.body_pos
    if body_pos is None:
        body_pos, _ = char_model.forward_kinematics(frames.root_pos, frames.root_rot, frames.dof)
    dims = frames.root_pos.dim() - 1  # batch dims: joint and key-body lists sit right after them
    return disc_frame(frames.root_pos, frames.root_rot, frames.root_vel, frames.root_ang_vel,
                      take(frames.joint_rot, dims, joint_body_ids), frames.dof_vel, take(body_pos, dims, key_ids))


def disc_frame_size(num_joints, num_dofs, num_keys):
    """Floats per raw window row: root pos 3, rot 4, vel 3, ang vel 3, joints 6 J, DoF velocities, keys 3 K."""
    return 13 + 6 * num_joints + num_dofs + 3 * num_keys


def disc_obs_frame_dim(num_joints, num_dofs, num_keys):
    """Discriminator observation floats per state (module docstring)."""
    return 15 + 6 * num_joints + num_dofs + 3 * num_keys


def disc_frame(root_pos, root_rot, root_vel, root_ang_vel, joint_rot, dof_vel, key_pos):
    """One character state as a raw window row [..., frame_size], world frame: root_pos, root_vel,
    root_ang_vel [..., 3], root_rot [..., 4] xyzw, joint_rot [..., J, 4] local rotations of the movable
    joints, dof_vel [..., num_dofs] (motion layout), key_pos [..., K, 3] world key-body positions."""
    joints = rot.quat_to_tan_norm(joint_rot).flatten(-2)  # [..., 6 J]
    keys = (key_pos - root_pos.unsqueeze(-2)).flatten(-2)  # [..., 3 K]
    return torch.cat([root_pos, root_rot, root_vel, root_ang_vel, joints, dof_vel, keys], dim=-1)


def compute_disc_obs(window, num_joints, num_dofs, num_keys):
    """window [..., S, frame_size] of raw rows (disc_frame), oldest first -> disc obs [..., S * F]:
    every row relative to the newest row's root (module docstring)."""
    sizes = [3, 4, 3, 3, 6 * num_joints, num_dofs, 3 * num_keys]
    root_pos, root_rot, root_vel, root_ang_vel, joints, dof_vel, keys = torch.split(window, sizes, dim=-1)
    heading_inv = rot.heading_quat_inv(root_rot[..., -1:, :])  # [..., 1, 4] of the newest root
    rel_pos = rot.quat_rotate(heading_inv, root_pos - root_pos[..., -1:, :])
    rel_pos = torch.cat([rel_pos[..., :2], root_pos[..., 2:3]], dim=-1)  # x, y relative; the height as is
    local_rot = rot.quat_to_tan_norm(rot.quat_mul(heading_inv, root_rot))
    vels = rot.quat_rotate(heading_inv.unsqueeze(-2), torch.stack([root_vel, root_ang_vel], dim=-2))  # [..., S, 2, 3]
    keys = rot.quat_rotate(heading_inv.unsqueeze(-2), keys.unflatten(-1, (num_keys, 3)))  # [..., S, K, 3]
    obs = torch.cat([rel_pos, local_rot, vels.flatten(-2), joints, dof_vel, keys.flatten(-2)], dim=-1)
    return obs.flatten(-2)
