"""MotionEnv: the simulated character plus a motion dataset it starts from.

What DeepMimic, AMP and their kin share: a ``MotionLib`` of the config's clip or dataset (``motion_file``),
key bodies named in the config, and **reference state initialization** (``rand_reset``): each episode
starts at a random time of a clip drawn by its weight, in that clip's state (pose, root and joint
velocities). Each env keeps its clip id and the clip time it started at, so ``motion_times()`` is
where in its clip it would be now.

A reset looks the clip up once, at the start time plus ``_reset_offsets`` [R] seconds (column 0 is the
start itself, whose state is written into the simulator); subclasses add offsets for what else they
need at a reset (DeepMimic: the future target frames; AMP: the frames before the start) and receive
the whole lookup in ``_on_reset`` / ``_on_reset_where``. State that a new episode simply draws afresh
(a command, a latent) goes in ``_redraw_where(mask)``, which both kinds of reset call.
"""
import torch

from mimickit.anim.motion_lib import MotionFrame
from mimickit.engines.engine import ConfigError
from mimickit.envs.base_env import REQUIRED
from mimickit.envs.char_env import CharEnv, dof_vel_to_sim
from mimickit.envs.view_motion_env import load_motion_lib


class MotionEnv(CharEnv):
    CONFIG_KEYS = dict(CharEnv.CONFIG_KEYS, **{
        "motion_file": REQUIRED,  # a clip (.pkl) or a dataset (.yaml)
        "contact_bodies": ["right_foot", "left_foot"],
        "key_bodies": ["right_hand", "left_hand", "right_foot", "left_foot"],
        "rand_reset": True,  # start each episode at a random clip time (else at 0)
    })

    def __init__(self, config, engine_config_file, num_envs, device="cpu", visualize=False,
                 path="<env config>"):
        super().__init__(config, engine_config_file, num_envs, device, visualize, path)
        self.motion_file, self.motion_lib = load_motion_lib(self, path)
        self._key_ids = torch.tensor([self._body_index(n, "key_bodies") for n in self.config["key_bodies"]],
                                     dtype=torch.long, device=self.device)  # [K]
        self._joint_body_ids = torch.tensor([j.body_id for j in self.char_model.movable_joints],
                                            dtype=torch.long, device=self.device)  # [J]
        n = self.num_envs
        self._motion_ids = torch.zeros(n, dtype=torch.long, device=self.device)  # [N]
        self._motion_t0 = torch.zeros(n, device=self.device)  # [N] clip time at reset
        self._reset_offsets = torch.zeros(1, device=self.device)  # [R] s; subclasses extend it

    def _body_index(self, name, key):
        if name not in self.char_model.body_names:
            raise ConfigError("%s: %s names '%s', not a body of %s; bodies are %s" % (
                self.config_path, key, name, self.char_file, ", ".join(self.char_model.body_names)))
        return self.char_model.body_id(name)

    @property
    def key_body_ids(self):
        """[K] body indices of key_bodies."""
        return self._key_ids

    # ---------------- clip time ----------------
    def motion_times(self, env_ids=None):
        """[N] (or [K]) seconds: where in its clip each env would be now."""
        if env_ids is None:
            return self._motion_t0 + self._time
        return self._motion_t0[env_ids] + self._time[env_ids]

    def get_motion_ids(self):
        return self._motion_ids.clone()

    def reference_action(self, steps_ahead=1):
        """[N, act_dim] actions whose PD targets are the reference's joint angles `steps_ahead` control steps
        ahead: open-loop "tracking", which falls within seconds (notebooks 04 and 07)."""
        zero = torch.zeros(self.num_envs, self.act_dim, device=self.device)
        offset = self.action_to_cmd(zero)
        scale = self.action_to_cmd(torch.ones_like(zero)) - offset
        ahead = self.motion_lib.calc_motion_frame(self._motion_ids, self.motion_times() + steps_ahead * self.dt,
                                                  with_body=False)
        return (self.char_model.dof_to_sim(ahead.dof) - offset) / scale

    # ---------------- reference state initialization ----------------
    def _draw_starts(self, k):
        """-> clip ids [k] and start times [k] (random with rand_reset, else 0) of k new episodes."""
        ids = self.motion_lib.sample_motions(k)
        if self.config["rand_reset"]:
            return ids, self.motion_lib.sample_time(ids)
        return ids, torch.zeros(k, device=self.device)

    def _start_state(self, frames):
        """frames: a MotionFrame [K, R] -> the character state of column 0 (set_char_state's arguments:
        root pos, rot, vel, ang vel, hinge angles [K, D], hinge rates [K, D])."""
        frame = frame_slice(frames, 0)
        dof_pos = self.char_model.dof_to_sim(frame.dof)
        dof_vel = dof_vel_to_sim(self.char_model, dof_pos, frame.dof_vel)
        return frame.root_pos, frame.root_rot, frame.root_vel, frame.root_ang_vel, dof_pos, dof_vel

    def _reset_envs(self, env_ids):
        ids, t0 = self._draw_starts(len(env_ids))
        self._motion_ids[env_ids] = ids
        self._motion_t0[env_ids] = t0
        # one lookup [K, R]: the state to reset to, and what the subclass needs around it
        times = self.motion_times(env_ids).unsqueeze(-1) + self._reset_offsets
        frames = self.motion_lib.calc_motion_frame(ids.unsqueeze(-1), times, with_body=False)
        self.set_char_state(env_ids, *self._start_state(frames))
        self._on_reset(env_ids, frames)
        self._redraw_where(self._mask(env_ids))

    def _reset_envs_where(self, mask):
        """Masked stepping: a fresh start is drawn for every env and taken where mask [N] is true; the
        lookup at the (new or unchanged) times is made for every env."""
        ids, t0 = self._draw_starts(self.num_envs)
        self._motion_ids.copy_(torch.where(mask, ids, self._motion_ids))
        self._motion_t0.copy_(torch.where(mask, t0, self._motion_t0))
        times = self.motion_times().unsqueeze(-1) + self._reset_offsets  # [N, R]
        frames = self.motion_lib.calc_motion_frame(self._motion_ids.unsqueeze(-1), times, with_body=False)
        self.set_char_state_where(mask, *self._start_state(frames))
        self._on_reset_where(mask, frames)
        self._redraw_where(mask)

    def _on_reset(self, env_ids, frames):
        """After env_ids [K] were reset; frames: the MotionFrame [K, R] looked up at _reset_offsets."""

    def _on_reset_where(self, mask, frames):
        """Masked stepping: after the envs where mask [N] is true were reset; frames [N, R] of every env."""

    def _redraw_where(self, mask):
        """After either kind of reset, mask [N] true at the envs reset: per-env state that a new episode draws
        afresh and that needs no reference frames (steering: the command; ASE: the latent)."""


def frame_slice(frame, index):
    """A MotionFrame's fields indexed along their second dim (the time steps of a [n, T] lookup)."""
    return MotionFrame(*[None if x is None else x[:, index] for x in frame])
