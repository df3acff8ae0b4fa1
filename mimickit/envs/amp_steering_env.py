"""AMPSteeringEnv: an AMP task. Move at the commanded velocity, in the style of the dataset.

A command is a travel direction (a yaw angle in the world) and a speed. Each env draws a new one at
random every ``tar_change_time_min``..``tar_change_time_max`` seconds and at every reset: a direction
uniform over the circle and a speed uniform in ``tar_speed_min``..``tar_speed_max`` m/s.
``set_command`` sets it from code instead (a notebook's dial and slider) and holds it until
``release_command``.

Observation: the character's (CharEnv) plus the command in its heading frame, 3 numbers:
(cos, sin) of the commanded direction relative to the heading, and the speed.

Task reward, with v the root's velocity over the ground and v* = speed * direction:

    r_task = exp(-reward_steering_vel_scale * |v - v*|^2)

Test metrics (per step, counted from ``task_err_delay`` seconds after each command change, episode
starts included): ``task_speed_err_mps`` = |v . d - speed| (speed along the commanded direction d) and
``task_dir_err_deg`` = the angle between v and d.
"""
import math

import torch

from mimickit.engines.engine import ConfigError
from mimickit.envs.amp_env import AMPEnv
from mimickit.util import rotations as rot


class AMPSteeringEnv(AMPEnv):
    CONFIG_KEYS = dict(AMPEnv.CONFIG_KEYS, **{
        "tar_speed_min": 1.0,  # m/s
        "tar_speed_max": 4.0,
        "tar_change_time_min": 3.0,  # s between two random commands
        "tar_change_time_max": 6.0,
        "reward_steering_vel_scale": 0.5,  # 1 / (m/s)^2
        "task_err_delay": 1.0,  # s after a command change before the test metrics count
    })
    TASK_OBS_SIZE = 3

    def __init__(self, config, engine_config_file, num_envs, device="cpu", visualize=False,
                 path="<env config>"):
        super().__init__(config, engine_config_file, num_envs, device, visualize, path)
        cfg = self.config
        for lo, hi in (("tar_speed_min", "tar_speed_max"), ("tar_change_time_min", "tar_change_time_max")):
            if not 0 <= float(cfg[lo]) <= float(cfg[hi]):
                raise ConfigError("%s: %s (%r) and %s (%r): expected 0 <= %s <= %s"
                                  % (path, lo, cfg[lo], hi, cfg[hi], lo, hi))
        n = self.num_envs
        self._tar_heading = torch.zeros(n, device=self.device)  # [N] rad, world yaw of the commanded direction
        self._tar_speed = torch.zeros(n, device=self.device)  # [N] m/s
        self._cmd_age = torch.zeros(n, device=self.device)  # [N] s since the command changed
        self._cmd_left = torch.zeros(n, device=self.device)  # [N] s until the next random command
        self._held = torch.zeros(n, dtype=torch.bool, device=self.device)  # [N] commands set from code
        self._speed_err = torch.zeros(n, device=self.device)  # [N] m/s, this step
        self._dir_err = torch.zeros(n, device=self.device)  # [N] degrees, this step
        self._err_valid = torch.zeros(n, dtype=torch.bool, device=self.device)  # [N] whether this step counts

    @property
    def obs_dim(self):
        return super().obs_dim + self.TASK_OBS_SIZE

    @property
    def test_metrics(self):
        return ("task_speed_err_mps", "task_dir_err_deg")

    # ---------------- commands ----------------
    def set_command(self, heading, speed, env_ids=None, hold=True):
        """Command env_ids (all when None) to move towards world yaw `heading` (rad; 0 is +x, pi/2 +y) at
        `speed` m/s (scalars or [K] tensors). With hold, no random command replaces it until
        release_command (resets included)."""
        ids = self._ids(env_ids)
        self._tar_heading[ids] = torch.as_tensor(heading, dtype=torch.float32, device=self.device)
        self._tar_speed[ids] = torch.as_tensor(speed, dtype=torch.float32, device=self.device)
        self._cmd_age[ids] = 0.0
        self._held[ids] = bool(hold)

    def release_command(self, env_ids=None):
        """Back to random commands, the next one drawn at the next step."""
        ids = self._ids(env_ids)
        self._held[ids] = False
        self._cmd_left[ids] = 0.0

    def get_command(self):
        """-> (heading [N] rad, speed [N] m/s) of the current commands."""
        return self._tar_heading.clone(), self._tar_speed.clone()

    def _new_commands_where(self, mask):
        """Draw a random command for every env and take it where mask [N] (and not held)."""
        n, cfg = self.num_envs, self.config
        take_new = mask & ~self._held
        rand = torch.rand(3, n, device=self.device)
        heading = (2.0 * math.pi) * rand[0] - math.pi
        speed = cfg["tar_speed_min"] + (cfg["tar_speed_max"] - cfg["tar_speed_min"]) * rand[1]
        left = cfg["tar_change_time_min"] + (cfg["tar_change_time_max"] - cfg["tar_change_time_min"]) * rand[2]
        self._tar_heading = torch.where(take_new, heading, self._tar_heading)
        self._tar_speed = torch.where(take_new, speed, self._tar_speed)
        self._cmd_left = torch.where(take_new, left, self._cmd_left)
        self._cmd_age = torch.where(mask, 0.0, self._cmd_age)  # held commands restart their count too

    def _redraw_where(self, mask):
        super()._redraw_where(mask)
        self._new_commands_where(mask)

    def _update_state(self):
        super()._update_state()
        self._cmd_age = self._cmd_age + self.dt
        self._cmd_left = self._cmd_left - self.dt
        self._new_commands_where(self._cmd_left <= 0.5 * self.dt)

    # ---------------- observation and reward ----------------
    def _command_dir(self):
        """[N, 3] unit world direction of the commands (z = 0)."""
        h = self._tar_heading
        return torch.stack([torch.cos(h), torch.sin(h), torch.zeros_like(h)], dim=-1)

    def _compute_obs(self, env_ids=None):
        sel = (lambda x: x) if env_ids is None else (lambda x: x[env_ids])
        heading_inv = rot.heading_quat_inv(sel(self.engine.get_root_rot()))  # [K, 4]
        local_dir = rot.quat_rotate(heading_inv, sel(self._command_dir()))[:, :2]
        return torch.cat([super()._compute_obs(env_ids, heading_inv=heading_inv), local_dir,
                          sel(self._tar_speed).unsqueeze(-1)], dim=-1)

    def _compute_reward(self):
        v = self.engine.get_root_vel()[:, :2]  # [N, 2] over the ground
        d = self._command_dir()[:, :2]
        along = (v * d).sum(-1)
        self._speed_err = (along - self._tar_speed).abs()
        cos = along / v.norm(dim=-1).clamp_min(1e-6)
        self._dir_err = torch.rad2deg(torch.acos(cos.clamp(-1.0, 1.0)))
        self._err_valid = self._cmd_age >= float(self.config["task_err_delay"]) - 0.5 * self.dt  # [N] counts
        vel_err = (v - self._tar_speed.unsqueeze(-1) * d).pow(2).sum(-1)
        return torch.exp(-float(self.config["reward_steering_vel_scale"]) * vel_err)

    def step(self, action):
        obs, reward, done, info = super().step(action)
        for name, err in (("task_speed_err_mps", self._speed_err), ("task_dir_err_deg", self._dir_err)):
            info[name], info[name + "_valid"] = err, self._err_valid  # of the state the step reached
        return obs, reward, done, info
