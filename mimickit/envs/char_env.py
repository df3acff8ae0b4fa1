"""CharEnv: one simulated character per env, driven by PD targets (or torques), observed in its
heading frame. Every size comes from the character's MJCF, through the engine:

    B = bodies, D = actuated hinge DoFs (the engine's order: KinCharModel.sim_dof_names()).

Observation [N, obs_dim], all in the root's heading frame (yaw removed, so turning the whole
character about z leaves it unchanged):

    root height                                 1
    body positions relative to the root         3 (B - 1)
    body rotations, tan-norm                    6 B     (the root's included)
    root linear and angular velocity            3 + 3
    body linear and angular velocities          6 (B - 1)   (only with obs_body_vel: true)
    DoF velocities                              D

Action [N, D] in about [-1, 1]: ``cmd = offset + scale * action``. With ``control_mode: pos`` the
command is a PD target and offset / scale map [-1, 1] onto each hinge's range; with ``torque`` the
command is a torque, offset 0 and scale the torque limit. Actions are not clipped here (agents clip).
"""
import math
import os
import time
import warnings

import torch

from mimickit.anim.clip_checks import pose_lowest_points
from mimickit.anim.kin_char_model import KinCharModel, split_frames
from mimickit.engines.engine import ConfigError
from mimickit.engines.engine_builder import build_engine
from mimickit.envs.base_env import REQUIRED, BaseEnv, SimulationError, SimulationWarning, _id_list
from mimickit.util import rotations as rot

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def resolve_path(path, key, config_path):
    """A config's relative path: the working directory first, then the repository root."""
    path = str(path)
    for cand in ([path] if os.path.isabs(path) else [path, os.path.join(REPO_ROOT, path)]):
        if os.path.exists(cand):
            return cand
    raise ConfigError("%s: %s '%s' not found" % (config_path, key, path))


class CharEnv(BaseEnv):
    CONFIG_KEYS = dict(BaseEnv.CONFIG_KEYS, **{
        "char_file": REQUIRED,  # character MJCF
        "contact_bodies": [],  # bodies allowed to touch the ground (e.g. feet)
        "enable_early_termination": True,  # end the episode (FAIL) when another body touches it
        "contact_force_threshold": 1.0,  # N; contact force norm above which a body counts as touching
        "init_pose": None,  # [root pos (3), root rot (3, exp map), joint DoFs]: a clip frame; None: the rest pose
        "init_root_height": None,  # m; None: the initial pose's lowest geom touches the ground
        "obs_body_vel": False,  # add body velocities to the observation
    })

    def __init__(self, config, engine_config_file, num_envs, device="cpu", visualize=False,
                 path="<env config>"):
        super().__init__(config, num_envs, device, visualize, path)
        cfg = self.config
        self.char_file = resolve_path(cfg["char_file"], "char_file", path)
        self.engine_config_file = resolve_path(engine_config_file, "engine config", "--engine_config")
        self.char_model = KinCharModel(self.char_file, self.device)
        self.engine = build_engine(self.engine_config_file, self.char_file, self.num_envs, self.device, visualize)
        self._check_dof_layout()
        self._contact_ok = self._parse_contact_bodies(cfg["contact_bodies"])  # [B] bool
        self._build_action_scale()
        self._record_init_state()
        self._viewer = None
        n = self.num_envs
        self._diverged = torch.zeros(n, dtype=torch.bool, device=self.device)  # [N] reset by the engine, last step
        self.num_diverged = 0  # envs MuJoCo had to reset, over the env's life
        # masked stepping: flags kept on the device until check_errors()
        self._diverged_since_check = torch.zeros(n, dtype=torch.bool, device=self.device)
        self._nonfinite_state = torch.zeros(n, dtype=torch.bool, device=self.device)
        self._bad_reset_state = torch.zeros(n, dtype=torch.bool, device=self.device)
        if self.visualize:
            self._init_viewer()

    # ---------------- construction ----------------
    def _check_dof_layout(self):
        """The engine's DoFs must be the kinematic model's (hinges and ball exp maps) in the same order."""
        km, eng = self.char_model, self.engine
        if eng.num_dofs != km.num_sim_dofs or eng.num_bodies != km.num_bodies:
            raise ConfigError("%s: the engine has %d actuated DoFs and %d bodies, the character %d joint "
                              "DoFs and %d bodies: every hinge needs one actuator, every ball joint three"
                              % (self.char_file, eng.num_dofs, eng.num_bodies, km.num_sim_dofs, km.num_bodies))
        kin_lim = torch.cat([j.limits for j in km.movable_joints]).to(self.device)  # [D, 2]
        limited = torch.isfinite(kin_lim).all(-1)
        if not torch.allclose(eng.get_dof_limits()[limited], kin_lim[limited], atol=1e-5):
            raise ConfigError("%s: the engine's DoF order differs from the character's hinge order %s"
                              % (self.char_file, km.sim_dof_names()))

    def _parse_contact_bodies(self, names):
        if isinstance(names, str) or not isinstance(names, (list, tuple)):
            raise ConfigError("%s: contact_bodies is %r; expected a list of body names" % (self.config_path, names))
        ok = torch.zeros(self.engine.num_bodies, dtype=torch.bool, device=self.device)
        for name in names:
            if name not in self.char_model.body_names:
                raise ConfigError("%s: contact_bodies names '%s', which is not a body of %s; bodies are %s"
                                  % (self.config_path, name, self.char_file, ", ".join(self.char_model.body_names)))
            ok[self.char_model.body_id(name)] = True
        return ok

    def _build_action_scale(self):
        """cmd = offset + scale * action, offset / scale [D]."""
        if self.engine.control_mode == "torque":
            self._action_scale = self.engine.get_torque_limits().clone()
            self._action_offset = torch.zeros_like(self._action_scale)
        else:
            lim = self.engine.get_dof_limits()  # [D, 2]
            lo, hi = lim[:, 0], lim[:, 1]
            # hinges without a range (lo == hi in MuJoCo, or infinite) get a full turn each way
            free = ~torch.isfinite(lo) | ~torch.isfinite(hi) | (hi <= lo)
            self._action_offset = torch.where(free, torch.zeros_like(lo), 0.5 * (lo + hi))
            self._action_scale = torch.where(free, torch.full_like(lo, math.pi), 0.5 * (hi - lo))

    def _record_init_state(self):
        """Every env's initial state: init_pose (a clip frame) or the MJCF's rest pose, lifted or lowered so
        that its lowest geom touches the ground (a root body written at the origin would start with the legs
        in the floor), unless init_root_height says otherwise."""
        km, e, cfg = self.char_model, self.engine, self.config
        if cfg["init_pose"] is not None:
            pose = torch.as_tensor(cfg["init_pose"], dtype=torch.float32, device=self.device)
            if tuple(pose.shape) != (km.frame_size,):
                raise ConfigError("%s: init_pose has %d numbers; expected %d: root position (3), root rotation (3, "
                                  "exp map) and the %d joint DoFs of %s" % (self.config_path, pose.numel(),
                                                                           km.frame_size, km.num_dofs, self.char_file))
            root_pos, root_rot, dof = split_frames(pose)
            root_pos = root_pos.clone()  # lowered below; the config's numbers stay as they are
        else:
            root_pos, root_rot = e.get_root_pos()[0].clone(), e.get_root_rot()[0].clone()
            dof = km.sim_to_dof(e.get_dof_pos()[0])
        if cfg["init_root_height"] is not None:
            root_pos[2] = float(cfg["init_root_height"])
        else:
            root_pos[2] -= pose_lowest_points(km, root_pos, root_rot, dof)
        self._init_root_pos, self._init_root_rot = root_pos, root_rot  # [3], [4] xyzw
        self._init_dof_pos = km.dof_to_sim(dof)  # [D]

    # ---------------- sizes ----------------
    @property
    def num_bodies(self):
        return self.engine.num_bodies

    @property
    def num_dofs(self):
        return self.engine.num_dofs

    @property
    def obs_dim(self):
        b, d = self.num_bodies, self.num_dofs
        n = 1 + 3 * (b - 1) + 6 * b + 6 + d
        return n + 6 * (b - 1) if self.config["obs_body_vel"] else n

    @property
    def act_dim(self):
        return self.num_dofs

    @property
    def dt(self):
        return self.engine.control_timestep

    def neutral_action(self):
        """[N, D] action that holds the initial pose (pos) or applies no torque (torque)."""
        if self.engine.control_mode == "torque":
            a = torch.zeros(self.num_dofs, device=self.device)
        else:
            a = (self._init_dof_pos - self._action_offset) / self._action_scale
        return a.unsqueeze(0).repeat(self.num_envs, 1)

    def action_to_cmd(self, action):
        """action [N, D] -> PD targets / torques [N, D]."""
        return self._action_offset + self._action_scale * action

    # ---------------- state ----------------
    def motion_frames(self):
        """The current poses as MimicKit motion frames [N, 6 + num_dofs]: root position, root rotation
        (exp map), joint DoFs in the motion layout (what a clip file holds per frame)."""
        e = self.engine
        return torch.cat([e.get_root_pos(), rot.quat_to_exp_map(e.get_root_rot()),
                          self.char_model.sim_to_dof(e.get_dof_pos())], dim=-1)

    def set_char_state(self, env_ids, root_pos, root_rot, root_vel, root_ang_vel, dof_pos, dof_vel):
        """Writes the state of env_ids [K] (world frame, rotations xyzw, hinge DoFs [K, D]) and
        recomputes the derived body state."""
        # MuJoCo would quietly replace a NaN, Inf or huge (>= 1e10) state by the default pose
        bad = _bad_state_rows(len(env_ids), root_pos, root_rot, root_vel, root_ang_vel, dof_pos, dof_vel,
                              device=self.device)
        if bool(bad.any()):
            ids = torch.as_tensor(env_ids, device=self.device)[bad]
            raise SimulationError("NaN, Inf or huge (>= 1e10) state written to env ids %s" % _id_list(ids))
        self.engine.set_root_state(env_ids, root_pos, root_rot, root_vel, root_ang_vel)
        self.engine.set_dof_state(env_ids, dof_pos, dof_vel)
        self.engine.refresh_after_reset()
        self._check_finite()

    def set_char_state_where(self, mask, root_pos, root_rot, root_vel, root_ang_vel, dof_pos, dof_vel):
        """Masked version of set_char_state: all N rows given, those where mask [N] is true written;
        bad values are flagged for check_errors(). The body state is recomputed by _refresh_after_reset."""
        n = self.num_envs
        self._bad_reset_state |= mask & _bad_state_rows(n, root_pos, root_rot, root_vel, root_ang_vel,
                                                        dof_pos, dof_vel, device=self.device)
        self.engine.set_state_where(mask, root_pos, root_rot, root_vel, root_ang_vel, dof_pos, dof_vel)

    def _refresh_after_reset(self):
        self.engine.refresh_after_reset()

    def _initial_state(self, k):
        """The initial state of k envs: root pos, rot, vel, ang vel, DoF pos, DoF vel."""
        zeros = torch.zeros(k, 3, device=self.device)
        return (self._init_root_pos.expand(k, 3), self._init_root_rot.expand(k, 4), zeros, zeros,
                self._init_dof_pos.expand(k, self.num_dofs), torch.zeros(k, self.num_dofs, device=self.device))

    def _reset_envs(self, env_ids):
        self.set_char_state(env_ids, *self._initial_state(len(env_ids)))

    def _reset_envs_where(self, mask):
        self.set_char_state_where(mask, *self._initial_state(self.num_envs))

    def _apply_action(self, action):
        self.engine.set_cmd(self.action_to_cmd(action))  # [N, D]

    def _simulate(self):
        self.engine.step()
        self._diverged = self.engine.get_unstable_mask()
        if self.masked_step:
            self._diverged_since_check |= self._diverged
        elif bool(self._diverged.any()):
            self._warn_diverged(self._diverged.nonzero().flatten())

    def _warn_diverged(self, ids):
        # a training run loses nothing: those episodes end as failures and restart
        self.num_diverged += len(ids)
        warnings.warn("the simulation diverged in env ids %s (MuJoCo reset them); their episodes end "
                      "as failures. If this recurs, lower the PD gains or actions, or raise sim_freq"
                      % _id_list(ids), SimulationWarning)

    def _update_state(self):
        if self.masked_step:
            self._nonfinite_state |= ~torch.isfinite(self._sim_state()).all(dim=-1)
            return
        self._check_finite()
        if self._viewer is not None:
            self._render()

    def step(self, action):
        out = super().step(action)
        if self.masked_step and self._viewer is not None:
            self._render()  # outside the compiled step
        return out

    def _sim_state(self):
        e = self.engine
        return torch.cat([e.get_root_pos(), e.get_root_rot(), e.get_root_vel(), e.get_dof_pos(),
                          e.get_dof_vel()], dim=-1)  # [N, *]

    def _check_finite(self):
        bad = ~torch.isfinite(self._sim_state()).all(dim=-1)
        if bool(bad.any()):
            raise SimulationError("non-finite (NaN/Inf) simulation state in env ids %s" % _id_list(bad.nonzero().flatten()))

    def check_errors(self):
        """Masked stepping: raise or warn about what the steps since the last check flagged."""
        flags = torch.stack([self._nonfinite_state, self._bad_reset_state, self._diverged_since_check])  # [3, N]
        for f in (self._nonfinite_state, self._bad_reset_state, self._diverged_since_check):
            f.zero_()
        super().check_errors()
        if bool(flags.any()):
            nonfinite, bad_reset, diverged = (f.nonzero().flatten() for f in flags)
            if len(nonfinite) > 0:
                raise SimulationError("non-finite (NaN/Inf) simulation state in env ids %s" % _id_list(nonfinite))
            if len(bad_reset) > 0:
                raise SimulationError("NaN, Inf or huge (>= 1e10) state written to env ids %s" % _id_list(bad_reset))
            self._warn_diverged(diverged)

    # ---------------- observation ----------------
    def _compute_obs(self, env_ids=None, heading_inv=None):
        """heading_inv [K, 4]: of the selected roots, when the caller has it already."""
        e = self.engine
        sel = (lambda x: x) if env_ids is None else (lambda x: x[env_ids])
        body_vel = body_ang_vel = None
        if self.config["obs_body_vel"]:
            body_vel, body_ang_vel = sel(e.get_body_vel()), sel(e.get_body_ang_vel())
        return compute_char_obs(sel(e.get_root_pos()), sel(e.get_root_rot()), sel(e.get_root_vel()),
                                sel(e.get_root_ang_vel()), sel(e.get_body_pos()), sel(e.get_body_rot()),
                                sel(e.get_dof_vel()), body_vel, body_ang_vel, heading_inv)

    # ---------------- termination ----------------
    def _compute_fail(self):
        fail = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        if self.config["enable_early_termination"]:
            force = torch.linalg.norm(self.engine.get_contact_forces(), dim=-1)  # [N, B]
            touching = (force > float(self.config["contact_force_threshold"])) & ~self._contact_ok
            # the first step after a reset may still settle a freshly placed character
            fail = touching.any(dim=-1) & (self._steps > 1)
        return fail | self._diverged

    # ---------------- viewer ----------------
    def _init_viewer(self):
        from mimickit.viz.char_viewer import CharViewer
        self._viewer = CharViewer(live="server")  # a page for a browser on this machine
        self._viewer.add_character("char", self.char_file)
        print("meshcat viewer (env 0): %s" % self._viewer.url(), flush=True)
        self._last_render = None

    def _render(self):
        """Draws env 0, paced to real time."""
        self._viewer.set_pose("char", self.engine.get_body_pos()[0], self.engine.get_body_rot()[0])
        now = time.perf_counter()
        if self._last_render is not None:
            wait = self.dt - (now - self._last_render)
            if wait > 0:
                time.sleep(wait)
        self._last_render = time.perf_counter()

    def close(self):
        if self._viewer is not None:
            self._viewer.close()
            self._viewer = None
        self.engine.close()


def _bad_state_rows(k, *parts, device):
    """[k] bool: rows of the state parts holding NaN, Inf or huge (>= 1e10) values."""
    state = torch.cat([torch.as_tensor(x, dtype=torch.float32, device=device).reshape(k, -1) for x in parts], -1)
    return ~(torch.isfinite(state) & (state.abs() < 1e10)).all(dim=-1)


def compute_char_obs(root_pos, root_rot, root_vel, root_ang_vel, body_pos, body_rot, dof_vel,
                     body_vel=None, body_ang_vel=None, heading_inv=None):
    """Heading-frame character observation [N, obs_dim] (layout in the module docstring).

    root_pos [N, 3], root_rot [N, 4], root_vel / root_ang_vel [N, 3], body_pos [N, B, 3],
    body_rot [N, B, 4], dof_vel [N, D]; body_vel / body_ang_vel [N, B, 3] or None;
    heading_inv [N, 4] of root_rot if the caller has it already.
    """
    n = body_pos.shape[0]
    if heading_inv is None:
        heading_inv = rot.heading_quat_inv(root_rot)  # [N, 4]
    h_b = heading_inv.unsqueeze(1)  # [N, 1, 4], broadcast over the bodies
    # body positions relative to the root and the root's velocities, rotated together: [N, B + 1, 3]
    vecs = torch.cat([body_pos[:, 1:] - root_pos.unsqueeze(1), root_vel.unsqueeze(1), root_ang_vel.unsqueeze(1)], 1)
    local_vecs = rot.quat_rotate(h_b, vecs).reshape(n, -1)
    local_rot = rot.quat_to_tan_norm(rot.quat_mul(h_b, body_rot))  # [N, B, 6]
    split = local_vecs.shape[1] - 6  # position part | velocity part
    parts = [root_pos[:, 2:3], local_vecs[:, :split], local_rot.reshape(n, -1), local_vecs[:, split:]]
    if body_vel is not None:
        parts.append(rot.quat_rotate(h_b, body_vel[:, 1:]).reshape(n, -1))
        parts.append(rot.quat_rotate(h_b, body_ang_vel[:, 1:]).reshape(n, -1))
    parts.append(dof_vel)
    return torch.cat(parts, dim=-1)


def dof_vel_to_sim(char_model, sim_dof, dof_vel):
    """Motion-layout DoF velocities -> hinge rates [..., D].

    sim_dof [..., D]: the hinge angles of the pose; dof_vel [..., num_dofs]: per 3-DoF joint its
    angular velocity in its own (child) frame, per hinge its rate (MotionLib's convention).
    For a chain R = Ra(a) Rb(b) Rc(c) the child-frame angular velocity is
        w = (Rb Rc)^T axis_a a' + Rc^T axis_b b' + axis_c c' = J [a', b', c'],
    solved by damped least squares so gimbal lock (J singular) stays finite.
    """
    return char_model.dof_vel_to_sim_vel(sim_dof, dof_vel)  # all joints batched
