"""BaseEnv: a batch of N environments stepped together, as torch tensors.

API (Gymnasium-like, but batched and auto-resetting):

    obs, info = env.reset()                       # obs [N, obs_dim]
    obs, reward, done, info = env.step(action)    # action [N, act_dim]; reward [N]; done [N] long

``done`` holds one ``DoneFlags`` code per env:

- ``NULL`` (0): the episode goes on;
- ``FAIL`` (1) / ``SUCC`` (2): terminated (a terminal state: bootstrap with value 0);
- ``TIME`` (3): truncated by the time limit (not a terminal state: bootstrap from the value of
  ``info["terminal_obs"]``).

Envs whose episode ended are reset inside ``step``: the returned ``obs`` is already the first
observation of the next episode for those rows, while ``info["terminal_obs"]`` [N, obs_dim] is the
observation reached by this step (for every row, before any reset). ``info`` also carries
``done_ids`` [K] and, per finished episode, ``episode_return`` [K] and ``episode_length`` [K] (steps);
``final_return`` [N] and ``final_length`` [N] hold the same per env (zero where the episode goes on).

Two ways to step, with the same results:

- by ids (the CPU default): the envs that finished are picked out (``done_ids``) and only they are
  reset. Checks (non-finite actions or state) raise at once.
- masked (``masked_step``, the GPU default): every tensor keeps its [N, ...] shape, the reset state is
  computed for all envs and blended in where ``done``, so a step never waits for the GPU and its torch
  work can be compiled (``torch.compile``, on by default on CUDA; ``MIMICKIT_COMPILE=0`` turns it off).
  Checks are batched: what a step flags is raised by ``check_errors()``, which ``step`` calls every
  ``CHECK_EVERY`` steps and agents call after each rollout. The [K] entries of ``info`` are computed
  only when read (that read waits for the GPU).
"""
import enum
import os

import numpy as np
import torch

from mimickit.engines.engine import ConfigError, check_keys

REQUIRED = object()  # CONFIG_KEYS marker: the key has no default
CHECK_EVERY = 32  # masked stepping: steps between two checks of the flags (one host round trip each)


class DoneFlags(enum.IntEnum):
    NULL = 0
    FAIL = 1
    SUCC = 2
    TIME = 3


class SimulationError(RuntimeError):
    """The simulation produced (or was fed) non-finite values; the message names the env ids."""


class SimulationWarning(RuntimeWarning):
    """Some envs' simulation diverged and was reset; their episodes ended as failures."""


class Box:
    """Minimal stand-in for ``gymnasium.spaces.Box`` when gymnasium is not installed."""

    def __init__(self, low, high, shape, dtype=np.float32):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.low = np.broadcast_to(np.asarray(low, dtype=self.dtype), self.shape).copy()
        self.high = np.broadcast_to(np.asarray(high, dtype=self.dtype), self.shape).copy()

    def sample(self):
        # unbounded dims sample a standard normal, bounded ones uniformly
        lo, hi = self.low, self.high
        bounded = np.isfinite(lo) & np.isfinite(hi)
        u = np.random.uniform(np.where(bounded, lo, 0.0), np.where(bounded, hi, 1.0))
        return np.where(bounded, u, np.random.standard_normal(self.shape)).astype(self.dtype)

    def contains(self, x):
        x = np.asarray(x)
        return x.shape == self.shape and bool(np.all(x >= self.low) and np.all(x <= self.high))

    def __repr__(self):
        return "Box(%s, %s, %s, %s)" % (self.low.min(), self.high.max(), self.shape, self.dtype)


class StepInfo(dict):
    """``info`` of a step. ``episode_return`` and ``episode_length`` [K] are the rows ``done_ids`` of
    ``final_return`` / ``final_length``, taken on first read; so is ``done_ids`` when the step did not
    need it (masked stepping)."""

    def __init__(self, done, **items):
        super().__init__(**items)
        self._done = done  # [N] DoneFlags

    def __missing__(self, key):
        if key == "done_ids":
            value = (self._done != DoneFlags.NULL).nonzero().flatten()
        elif key in ("episode_return", "episode_length"):
            value = self[key.replace("episode", "final")][self["done_ids"]]
        else:
            raise KeyError(key)
        self[key] = value
        return value


def make_box(low, high, shape):
    """A gymnasium Box when gymnasium is importable, else our Box."""
    try:
        from gymnasium.spaces import Box as GymBox
    except ImportError:
        return Box(low, high, shape)
    return GymBox(low=low, high=high, shape=tuple(shape), dtype=np.float32)


class BaseEnv:
    """Batched env with episode bookkeeping; subclasses implement the ``_`` hooks below."""

    # config keys with defaults (REQUIRED: must be given); subclasses extend this dict
    CONFIG_KEYS = {
        "env_name": REQUIRED,
        "episode_length": 10.0,  # seconds; the time limit (TIME) of an episode
    }

    def __init__(self, config, num_envs, device="cpu", visualize=False, path="<env config>"):
        self.config_path = str(path)
        self.config = self.validate_config(config, path)
        self.num_envs = int(num_envs)
        if self.num_envs < 1:
            raise ConfigError("num_envs must be at least 1; got %s" % num_envs)
        self.device = torch.device(device)
        self.visualize = bool(visualize)
        n = self.num_envs
        self._time = torch.zeros(n, device=self.device)  # [N] seconds since reset
        self._steps = torch.zeros(n, dtype=torch.long, device=self.device)  # [N] steps since reset
        self._ep_return = torch.zeros(n, device=self.device)  # [N]
        ep_len = self.config["episode_length"]
        self._episode_len = torch.full((n,), float(ep_len) if ep_len is not None else float("inf"),
                                       device=self.device)  # [N] seconds; subclasses may vary it per env
        self.masked_step = self.device.type == "cuda"  # see the module docstring
        self.compile_step = self.masked_step and os.environ.get("MIMICKIT_COMPILE", "1") != "0"
        self._masked_fns = None  # (post-physics, observation): compiled on first use
        self._bad_action = torch.zeros(n, dtype=torch.bool, device=self.device)  # [N] flags since the last check
        self._steps_since_check = 0
        self._recorder = None  # an EpisodeRecorder (envs/recorder.py), told about every reset and step
        self.mode = "train"  # or "test": agents switch it around their test episodes (set_mode)
        self._masked_before_recording = None

    @classmethod
    def validate_config(cls, config, path="<env config>"):
        """Unknown or missing keys -> ConfigError naming the file; returns config with defaults."""
        required = [k for k, v in cls.CONFIG_KEYS.items() if v is REQUIRED]
        check_keys(config, cls.CONFIG_KEYS, path, required=required)
        cfg = {k: v for k, v in cls.CONFIG_KEYS.items() if v is not REQUIRED}
        cfg.update(config)
        ep_len = cfg["episode_length"]
        if ep_len is not None and (isinstance(ep_len, bool) or not isinstance(ep_len, (int, float))
                                   or not ep_len > 0):
            raise ConfigError("%s: episode_length is %r; expected a positive number of seconds" % (path, ep_len))
        return cfg

    # ---------------- sizes and spaces ----------------
    @property
    def obs_dim(self):
        raise NotImplementedError

    @property
    def act_dim(self):
        raise NotImplementedError

    @property
    def dt(self):
        """Seconds of simulated time per step."""
        raise NotImplementedError

    @property
    def observation_space(self):
        return make_box(-np.inf, np.inf, (self.obs_dim,))

    @property
    def action_space(self):
        low, high = self.action_bounds()
        return make_box(low, high, (self.act_dim,))

    @property
    def test_metrics(self):
        """Names of the per-step metrics that ``step`` puts in info ([N] values, and where only some
        steps count, an [N] bool mask under name + "_valid"); test mode reports their means."""
        return ()

    def action_bounds(self):
        """-> (low [act_dim], high [act_dim]) numpy arrays of the policy's action range."""
        return -np.ones(self.act_dim, np.float32), np.ones(self.act_dim, np.float32)

    # ---------------- API ----------------
    def reset(self, env_ids=None):
        """Resets env_ids [K] (all when None) -> (obs [N, obs_dim] of every env, info)."""
        ids = self._ids(env_ids)
        self._reset_counters_and_envs(ids)
        return self._compute_obs(), {"reset_ids": ids}

    def _reset_counters_and_envs(self, ids):
        if len(ids) > 0:
            self._time[ids] = 0.0
            self._steps[ids] = 0
            self._ep_return[ids] = 0.0
            self._reset_envs(ids)
            if self._recorder is not None:
                self._recorder.begin(ids)

    def step(self, action):
        """action [N, act_dim] -> (obs [N, obs_dim], reward [N], done [N] DoneFlags, info)."""
        action = torch.as_tensor(action, dtype=torch.float32, device=self.device)
        if tuple(action.shape) != (self.num_envs, self.act_dim):
            raise ValueError("action must be [num_envs, act_dim] = [%d, %d]; got %s"
                             % (self.num_envs, self.act_dim, list(action.shape)))
        bad = ~torch.isfinite(action).all(dim=-1)
        if self.masked_step:
            return self._step_masked(action, bad)
        if bool(bad.any()):
            raise SimulationError("non-finite actions (NaN/Inf) for env ids %s"
                                  % _id_list(bad.nonzero().flatten()))
        self._apply_action(action)
        self._simulate()
        obs, reward, done = self._advance()
        if self._recorder is not None:
            self._recorder.record(done)  # the state this step reached, before any reset
        ended = done != DoneFlags.NULL
        done_ids = ended.nonzero().flatten()
        info = StepInfo(done, terminal_obs=obs, done_ids=done_ids,  # episode_return / _length: from final_*
                        final_return=torch.where(ended, self._ep_return, 0.0),
                        final_length=torch.where(ended, self._steps, 0))
        if len(done_ids) > 0:
            self._reset_counters_and_envs(done_ids)
            obs = obs.clone()  # terminal_obs keeps the pre-reset rows
            obs[done_ids] = self._compute_obs(done_ids)  # only the reset rows changed
        return obs, reward, done, info

    def _advance(self):
        """After the physics: the clock, the new state, and this step's (obs, reward, done)."""
        self._time += self.dt
        self._steps += 1
        self._update_state()
        obs = self._compute_obs()
        reward = self._compute_reward()
        done = self._compute_done()
        self._ep_return += reward
        return obs, reward, done

    # ---------------- masked stepping ----------------
    def _step_masked(self, action, bad_action):
        self._bad_action |= bad_action
        # the simulator gets 0 instead, so one bad row cannot spoil the others before the check
        self._apply_action(torch.where(bad_action.unsqueeze(-1), 0.0, action))
        self._simulate()
        post_physics, observe = self._get_masked_fns()
        obs, reward, done, final_return, final_length = post_physics()
        self._refresh_after_reset()
        next_obs = observe()
        self._steps_since_check += 1
        if self._steps_since_check >= CHECK_EVERY:
            self.check_errors()
        return next_obs, reward, done, StepInfo(done, terminal_obs=obs, final_return=final_return,
                                                final_length=final_length)

    def _post_physics_masked(self):
        """Everything after the physics, at fixed shapes: -> (terminal obs [N, obs_dim], reward [N],
        done [N], final_return [N], final_length [N]); the envs that finished are reset."""
        obs, reward, done = self._advance()
        ended = done != int(DoneFlags.NULL)  # an int: TorchDynamo mis-compares tensors with IntEnums
        final_return = torch.where(ended, self._ep_return, 0.0)
        final_length = torch.where(ended, self._steps, 0)
        self._time.masked_fill_(ended, 0.0)
        self._steps.masked_fill_(ended, 0)
        self._ep_return.masked_fill_(ended, 0.0)
        self._reset_envs_where(ended)
        return obs, reward, done, final_return, final_length

    def _get_masked_fns(self):
        if self._masked_fns is None:
            fns = (self._post_physics_masked, self._compute_obs)
            if self.compile_step:
                fns = tuple(_compile_or_eager(f) for f in fns)
            self._masked_fns = fns
        return self._masked_fns

    def check_errors(self):
        """Raises what masked steps flagged since the last check (waits for the device once)."""
        self._steps_since_check = 0
        bad = self._bad_action.clone()
        self._bad_action.zero_()
        if bool(bad.any()):
            raise SimulationError("non-finite actions (NaN/Inf) for env ids %s" % _id_list(bad.nonzero().flatten()))

    def count_episodes_of(self, mask):
        """Test protocol (BaseAgent.test): only the episodes that envs where mask [N] bool is True are
        running now count, and an attached recorder writes only those; None: every episode again."""
        if self._recorder is not None:
            self._recorder.only(mask)

    def attach_recorder(self, recorder):
        """recorder (None detaches) hears of every reset (begin(ids)) and step (record(done)). While one
        is attached the env steps by ids, whose resets happen outside the step's fixed-shape part."""
        if recorder is not None and self._recorder is None:
            self._masked_before_recording = self.masked_step
            self.masked_step = False
        elif recorder is None and self._recorder is not None:
            self.masked_step = self._masked_before_recording
        self._recorder = recorder

    def neutral_action(self):
        """[N, act_dim] action that does nothing in particular (zeros; subclasses refine it)."""
        return torch.zeros(self.num_envs, self.act_dim, device=self.device)

    def set_mode(self, mode):
        """"train" or "test": what the agent is doing with the env (e.g. ASE keeps one latent per test
        episode). Episodes in progress go on; the mode applies from the next step."""
        if mode not in ("train", "test"):
            raise ValueError("env mode must be 'train' or 'test'; got %r" % (mode,))
        self.mode = mode

    def get_obs(self):
        """Observation [N, obs_dim] of the current state, without stepping."""
        return self._compute_obs()

    def get_episode_time(self):
        return self._time.clone()

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---------------- done ----------------
    def _compute_done(self):
        """[N] DoneFlags codes: a failure or success wins over the time limit."""
        # half a step of slack so float round-off of the summed time cannot add a step
        timeout = self._time >= self._episode_len - 0.5 * self.dt
        # torch.where rather than masked writes, which on the GPU wait for the mask's nonzero count
        done = torch.where(timeout, int(DoneFlags.TIME), int(DoneFlags.NULL))
        done = torch.where(self._compute_success(), int(DoneFlags.SUCC), done)
        return torch.where(self._compute_fail(), int(DoneFlags.FAIL), done)

    def _compute_fail(self):
        return torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)

    def _compute_success(self):
        return torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)

    # ---------------- hooks for subclasses ----------------
    def _reset_envs(self, env_ids):
        """Put env_ids [K] in their initial state (time and counters are already zero)."""
        raise NotImplementedError

    def _reset_envs_where(self, mask):
        """Masked stepping: put the envs where mask [N] is true in their initial state. This default
        picks the ids out (a host round trip); envs meant for the GPU override it at fixed shapes."""
        ids = mask.nonzero().flatten()
        if len(ids) > 0:
            self._reset_envs(ids)

    def _refresh_after_reset(self):
        """Masked stepping: between the resets and the next observation (e.g. the engine's kinematics)."""

    def _apply_action(self, action):
        raise NotImplementedError

    def _simulate(self):
        raise NotImplementedError

    def _update_state(self):
        """After the clock advanced: read (or, for kinematic envs, write) the new state."""

    def _compute_obs(self, env_ids=None):
        """[N, obs_dim], or [K, obs_dim] for env_ids [K]."""
        raise NotImplementedError

    def _compute_reward(self):
        return torch.zeros(self.num_envs, device=self.device)

    def _all_ids(self):
        return torch.arange(self.num_envs, dtype=torch.long, device=self.device)

    def _mask(self, env_ids):
        """env_ids [K] -> a bool mask [N], true at those envs."""
        mask = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        mask[env_ids] = True
        return mask

    def _ids(self, env_ids):
        """env_ids (a list or tensor; None: every env) -> a long tensor [K] on the env's device."""
        return self._all_ids() if env_ids is None else torch.as_tensor(env_ids, dtype=torch.long, device=self.device)


def _compile_or_eager(fn):
    """torch.compile(fn), falling back to fn itself (with a warning) if compiling fails on first use.
    Each new shape of fn's tensor arguments compiles once more (dynamic=False)."""
    options = {}
    if hasattr(torch._inductor.config.triton, "coalesce_tiling_analysis"):
        # torch 2.11's tiling analysis asserts on the gathers of this step (ModularIndexing); skip it
        options["triton.coalesce_tiling_analysis"] = False
    compiled = torch.compile(fn, dynamic=False, options=options)
    state = {"fn": None}

    def call(*args):
        if state["fn"] is None:
            try:
                out = compiled(*args)
                state["fn"] = compiled
                return out
            except Exception as e:  # noqa: BLE001 -- no compiler, an unsupported op: run eagerly
                import warnings
                warnings.warn("torch.compile of %s failed (%s: %s); stepping without it"
                              % (getattr(fn, "__name__", fn), type(e).__name__, str(e).splitlines()[0][:200]))
                state["fn"] = fn
        return state["fn"](*args)
    return call


def _id_list(ids, limit=20):
    ids = [int(i) for i in ids]
    return str(ids[:limit])[:-1] + (", ... (%d in all)]" % len(ids) if len(ids) > limit else "]")
