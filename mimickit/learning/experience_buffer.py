"""Rollout storage: T steps from N envs, every field a [T, N, ...] tensor."""
import torch


class ExperienceBuffer:
    def __init__(self, num_steps, num_envs, device="cpu"):
        self.num_steps, self.num_envs, self.device = int(num_steps), int(num_envs), device
        self.fields = {}
        self.t = 0

    def add(self, name, value):
        """Store value [N, ...] at the current step under name."""
        buf = self.fields.get(name)
        if buf is None:
            buf = torch.zeros((self.num_steps,) + tuple(value.shape), dtype=value.dtype, device=self.device)
            self.fields[name] = buf
        buf[self.t] = value

    def advance(self):
        self.t += 1

    @property
    def full(self):
        return self.t >= self.num_steps

    def reset(self):
        self.t = 0

    def __getitem__(self, name):
        return self.fields[name]

    def flat(self, name):
        """[T, N, ...] -> [T * N, ...]."""
        v = self.fields[name]
        return v.reshape((-1,) + tuple(v.shape[2:]))
