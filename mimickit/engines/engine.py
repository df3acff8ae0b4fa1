"""The Engine interface: N copies of one character simulated side by side, as torch tensors.

Every engine exposes the same state in the same units and frames, so envs and agents never see
which simulator runs underneath:

- root state: position [N, 3], rotation [N, 4] (quaternion x, y, z, w), linear and angular
  velocity [N, 3] in the world frame;
- DoF state: the character's hinge coordinates [N, D] and their velocities [N, D], D = actuated DoFs;
- body state: position [N, B, 3], rotation [N, B, 4], linear / angular velocity [N, B, 3] (world);
- contact forces [N, B, 3]: net force the world pushes on each body through contacts (world frame).

Commands are PD targets in hinge coordinates (``control_mode: pos``) or joint torques
(``control_mode: torque``), held for one control step of ``sim_freq / control_freq`` substeps.
"""
import os

import yaml

ENGINE_NAMES = ("mujoco", "mujoco_warp", "isaac_gym")  # built by engine_builder.py

# engine YAML keys, with defaults (None: required)
ENGINE_KEYS = {
    "engine_name": None,
    "control_mode": "pos",  # pos | torque
    "control_freq": 30,  # Hz, policy / command rate
    "sim_freq": 120,  # Hz, physics rate; must be a multiple of control_freq
    "num_threads": 0,  # CPU engine: 0 uses every core
    "self_collisions": False,
    "ground_friction": 1.0,
}


class ConfigError(ValueError):
    """A config file or value is wrong; the message names the file and the key."""


def load_yaml(path):
    if not os.path.isfile(str(path)):
        raise ConfigError("config file not found: %s" % path)
    with open(str(path)) as f:
        try:
            data = yaml.safe_load(f) or {}
        except yaml.YAMLError as e:
            raise ConfigError("%s: not valid YAML (%s)" % (path, e)) from e
    if not isinstance(data, dict):
        raise ConfigError("%s: expected a mapping of keys to values at the top level" % path)
    return data


def load_layered_config(path, _seen=()):
    """An env or agent YAML as a dict. ``base_config: FILE`` (a path from the repository root, like char_file) takes
    that file's keys first, then this file's on top (top-level keys: a variant's ``model:`` replaces the whole
    section): a variant names only what it changes."""
    config = load_yaml(path)
    base = config.pop("base_config", None)
    if base is None:
        return config
    base = str(base)
    if not os.path.isabs(base) and not os.path.isfile(base):  # run from elsewhere: a file beside this one
        beside = os.path.join(os.path.dirname(str(path)), os.path.basename(base))
        base = beside if os.path.isfile(beside) else base
    if os.path.abspath(base) in _seen + (os.path.abspath(str(path)),):
        raise ConfigError("%s: base_config %s leads back to itself" % (path, base))
    merged = load_layered_config(base, _seen + (os.path.abspath(str(path)),))
    merged.update(config)
    return merged


def check_keys(config, allowed, path, required=()):
    """Reject unknown keys (typos) and missing required ones, naming the file."""
    unknown = sorted(set(config) - set(allowed))
    if unknown:
        import difflib
        hints = []
        for k in unknown:
            close = difflib.get_close_matches(k, list(allowed), n=1)
            hints.append("'%s'%s" % (k, " (did you mean '%s'?)" % close[0] if close else ""))
        raise ConfigError("%s: unknown key(s) %s; allowed keys: %s" % (path, ", ".join(hints), ", ".join(sorted(allowed))))
    missing = [k for k in required if config.get(k) is None]
    if missing:
        raise ConfigError("%s: missing required key(s) %s" % (path, ", ".join(missing)))


def engine_config(config, path="<engine config>"):
    """Validated engine config with defaults filled in."""
    check_keys(config, ENGINE_KEYS, path, required=("engine_name",))
    cfg = dict(ENGINE_KEYS)
    cfg.update(config)
    if cfg["engine_name"] not in ENGINE_NAMES:
        raise ConfigError("%s: engine_name '%s' is unknown; expected one of %s"
                          % (path, cfg["engine_name"], ", ".join(ENGINE_NAMES)))
    if cfg["control_mode"] not in ("pos", "torque"):
        raise ConfigError("%s: control_mode '%s'; expected pos or torque" % (path, cfg["control_mode"]))
    cf, sf = cfg["control_freq"], cfg["sim_freq"]
    if not (isinstance(cf, int) and isinstance(sf, int) and cf > 0 and sf > 0 and sf % cf == 0):
        raise ConfigError("%s: sim_freq (%s) must be a positive multiple of control_freq (%s)" % (path, sf, cf))
    return cfg


class Engine:
    """Base class; see the module docstring for the state layout. Subclasses implement the methods."""

    def __init__(self, config, char_file, num_envs, device="cpu", visualize=False, path="<engine config>"):
        self.config = engine_config(config, path)
        self.char_file = str(char_file)
        self.num_envs = int(num_envs)
        self.device = device
        self.visualize = visualize
        self.control_mode = self.config["control_mode"]
        self.substeps = self.config["sim_freq"] // self.config["control_freq"]
        self.sim_timestep = 1.0 / self.config["sim_freq"]
        self.control_timestep = 1.0 / self.config["control_freq"]

    # --- sizes ---
    num_dofs = 0  # actuated hinge coordinates D
    num_bodies = 0  # character bodies B

    # --- state reads, all torch tensors on self.device ---
    def get_root_pos(self): raise NotImplementedError
    def get_root_rot(self): raise NotImplementedError
    def get_root_vel(self): raise NotImplementedError
    def get_root_ang_vel(self): raise NotImplementedError
    def get_dof_pos(self): raise NotImplementedError
    def get_dof_vel(self): raise NotImplementedError
    def get_body_pos(self): raise NotImplementedError
    def get_body_rot(self): raise NotImplementedError
    def get_body_vel(self): raise NotImplementedError
    def get_body_ang_vel(self): raise NotImplementedError
    def get_contact_forces(self): raise NotImplementedError

    def get_unstable_env_ids(self):
        """[K] long ids of envs whose simulation diverged in the last step (none by default)."""
        import torch
        return torch.zeros(0, dtype=torch.long, device=self.device)

    def get_unstable_mask(self):
        """[N] bool: the envs whose simulation diverged in the last step (and were reset by the engine)."""
        import torch
        mask = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        mask[self.get_unstable_env_ids()] = True
        return mask

    # --- limits of the actuated DoFs [D, 2] and torque limits [D], from the scene's DoF layout ---
    dofs = None  # scene.ActuatedDofs, set by subclasses

    def get_dof_limits(self):
        import torch
        return torch.tensor(self.dofs.limits, device=self.device)

    def get_torque_limits(self):
        import torch
        return torch.tensor(self.dofs.torque_limits, device=self.device)

    # --- writes ---
    def set_root_state(self, env_ids, root_pos, root_rot, root_vel, root_ang_vel): raise NotImplementedError
    def set_dof_state(self, env_ids, dof_pos, dof_vel): raise NotImplementedError

    def set_state_where(self, mask, root_pos, root_rot, root_vel, root_ang_vel, dof_pos, dof_vel):
        """Writes the state of the envs where mask [N] is true; every state argument has all N rows.
        Call refresh_after_reset() afterwards. This generic version selects the ids (a host round
        trip); the GPU engine blends on the device."""
        ids = mask.nonzero().flatten()
        if len(ids) > 0:
            self.set_root_state(ids, root_pos[ids], root_rot[ids], root_vel[ids], root_ang_vel[ids])
            self.set_dof_state(ids, dof_pos[ids], dof_vel[ids])

    def refresh_after_reset(self):
        """Recompute the derived body state after writes (engines that need it override this)."""

    def set_cmd(self, cmd): raise NotImplementedError  # [N, D] PD targets or torques
    def step(self): raise NotImplementedError  # one control step (substeps physics steps)
    def close(self): pass
