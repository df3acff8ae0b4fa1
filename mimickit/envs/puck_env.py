"""PuckEnv: a puck on a square table, pushed towards a goal: the small task of notebook 03 (PPO) and of
the GAE and PPO exercises. N pucks are stepped together as tensors, on the CPU.

Observation [N, 6]: position, velocity, goal - position. Action [N, 2]: a force, max_force per unit.
Reward exp(-4 |goal - position|^2). An episode fails when the puck leaves the table.
"""
import torch

from mimickit.envs.base_env import BaseEnv


class PuckEnv(BaseEnv):
    # A puck on a square table; the policy pushes it towards a goal. N pucks, stepped together as tensors.
    CONFIG_KEYS = dict(BaseEnv.CONFIG_KEYS, table_half_size=1.0, max_force=2.0, friction=0.2, start_speed=1.0)

    def __init__(self, config, num_envs):
        super().__init__(config, num_envs)
        self.pos = torch.zeros(num_envs, 2)   # [N, 2] m
        self.vel = torch.zeros(num_envs, 2)   # [N, 2] m/s
        self.goal = torch.zeros(num_envs, 2)  # [N, 2] m
        self.force = torch.zeros(num_envs, 2)

    obs_dim = property(lambda self: 6)
    act_dim = property(lambda self: 2)
    dt = property(lambda self: 0.05)  # seconds per step

    def _reset_envs(self, ids):  # random start, velocity and goal for the envs `ids` [K]
        inner = 0.8 * self.config["table_half_size"]
        self.pos[ids] = inner * (2 * torch.rand(len(ids), 2) - 1)
        self.vel[ids] = self.config["start_speed"] * (2 * torch.rand(len(ids), 2) - 1)
        self.goal[ids] = inner * (2 * torch.rand(len(ids), 2) - 1)

    def _apply_action(self, action):  # action [N, 2]; the agent keeps it near [-1, 1], we make sure
        self.force = self.config["max_force"] * action.clamp(-1.0, 1.0)

    def _simulate(self):  # one explicit Euler step
        self.vel += self.dt * (self.force - self.config["friction"] * self.vel)
        self.pos += self.dt * self.vel

    def _compute_obs(self, env_ids=None):
        obs = torch.cat([self.pos, self.vel, self.goal - self.pos], dim=-1)  # [N, 6]
        return obs if env_ids is None else obs[env_ids]

    def _compute_reward(self):
        return torch.exp(-4.0 * (self.goal - self.pos).pow(2).sum(-1))  # [N], in (0, 1]

    def _compute_fail(self):  # off the table
        return (self.pos.abs() > self.config["table_half_size"]).any(dim=-1)
