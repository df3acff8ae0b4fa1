"""DeepMimicEnv (Peng et al. 2018): the simulated character tracks a reference clip.

Reward, each term in (0, 1], weights summing to 1 in the default config:

    r = w_p exp(-k_p sum_j w_j angle(q_j, q^_j)^2)                       joint rotations
      + w_v exp(-k_v sum_j w_j |w_j - w^_j|^2)                           joint velocities
      + w_rp exp(-k_rp (|x_root - x^_root|^2 + 0.1 angle(q_root, q^_root)^2))   root pose
      + w_rv exp(-k_rv (|v_root - v^_root|^2 + 0.1 |w_root - w^_root|^2))      root velocity
      + w_k exp(-k_k sum_e |(x_e - x_root) - (x^_e - x^_root)|^2)            key bodies (hands, feet)

Reference state initialization (rand_reset): each episode starts at a random time of a random clip,
in the reference's state. Early termination: a body outside contact_bodies touches the ground, or
(pose_termination) some body is farther than pose_termination_dist from the reference. Observations
add the reference's future frames (tar_obs_steps) and, optionally, the clip's phase.
"""
import math

import torch

from mimickit.anim.motion import LoopMode
from mimickit.engines.engine import ConfigError
from mimickit.envs.motion_env import MotionEnv, frame_slice
from mimickit.util import rotations as rot
from mimickit.util.indexing import take

# per-joint weights of the pose and velocity errors (hands are welded: no error)
DEFAULT_JOINT_ERR_W = {"abdomen": 1.0, "neck": 0.6, "right_shoulder": 0.6, "right_elbow": 0.4,
                       "left_shoulder": 0.6, "left_elbow": 0.4, "right_hip": 1.0, "right_knee": 0.6,
                       "right_ankle": 0.4, "left_hip": 1.0, "left_knee": 0.6, "left_ankle": 0.4}


class DeepMimicEnv(MotionEnv):
    CONFIG_KEYS = dict(MotionEnv.CONFIG_KEYS, **{
        "joint_err_w": DEFAULT_JOINT_ERR_W,  # {joint name: weight}; joints not named weigh 1
        "enable_tar_obs": True,
        "tar_obs_steps": [1],
        "enable_phase_obs": False,
        "num_phase_encoding": 4,
        "pose_termination": True,
        "pose_termination_dist": 1.0,
        "ref_char_offset": [0.0, 1.5, 0.0],
        "log_tracking_error": True,
        "reward_pose_w": 0.5, "reward_vel_w": 0.1, "reward_root_pose_w": 0.15,
        "reward_root_vel_w": 0.1, "reward_key_pos_w": 0.15,
        "reward_pose_scale": 0.25, "reward_vel_scale": 0.01, "reward_root_pose_scale": 5.0,
        "reward_root_vel_scale": 1.0, "reward_key_pos_scale": 10.0,
    })

    def __init__(self, config, engine_config_file, num_envs, device="cpu", visualize=False,
                 path="<env config>"):
        super().__init__(config, engine_config_file, num_envs, device, visualize, path)
        cfg = self.config
        self._joint_w, self._dof_w = self._parse_joint_weights(cfg["joint_err_w"])
        # made now rather than on the first step, which torch.compile would then trace twice
        _reward_consts(cfg, self._joint_w)
        self._tar_steps = torch.tensor([int(s) for s in cfg["tar_obs_steps"]], device=self.device)
        self._tar_offsets = self._tar_steps * self.dt  # [S] seconds ahead of the current time
        # reference lookups per step and per reset: now, and the target frames when observed [1 (+ S)]
        if cfg["enable_tar_obs"]:
            self._reset_offsets = torch.cat([self._reset_offsets, self._tar_offsets])
        n = self.num_envs
        self._ref = None  # MotionFrame at the current time
        self._tar_ref = None  # MotionFrame [N, S] at the target steps
        self._reset_tar_ref = None  # (env ids [K], MotionFrame [K, S]) of the last reset, until the next step
        self._body_dist = None  # [N, B] m, sim to reference body positions, this step
        self._tracking_error = torch.zeros(n, device=self.device)  # [N] m
        self._dof_error = torch.zeros(n, device=self.device)  # [N] rad
        if self._viewer is not None:
            from mimickit.viz.char_viewer import REFERENCE_GHOST
            self._viewer.add_character("ref", self.char_file, offset=cfg["ref_char_offset"], **REFERENCE_GHOST)

    # ---------------- config ----------------
    def _parse_joint_weights(self, weights):
        """-> per-body weights [B] (pose error) and per motion-DoF weights [num_dofs] (velocity)."""
        km = self.char_model
        if not isinstance(weights, dict):
            raise ConfigError("%s: joint_err_w must map joint names to weights; got %r" % (self.config_path, weights))
        names = {j.name for j in km.movable_joints}
        unknown = sorted(set(weights) - names)
        if unknown:
            raise ConfigError("%s: joint_err_w names %s, not joints of %s; joints are %s" % (
                self.config_path, unknown, self.char_file, ", ".join(j.name for j in km.movable_joints)))
        body_w = torch.zeros(km.num_bodies, device=self.device)
        dof_w = torch.zeros(km.num_dofs, device=self.device)
        for j in km.movable_joints:
            w = float(weights.get(j.name, 1.0))
            body_w[j.body_id] = w
            dof_w[j.dof_offset:j.dof_offset + j.dof_dim] = w
        return body_w, dof_w

    # ---------------- reward inputs (for compute_deepmimic_reward outside the env) ----------------
    @property
    def joint_err_weights(self):
        """[B] per-body weights of the joint-rotation error (joint_err_w; 0 for bodies without a joint)."""
        return self._joint_w

    @property
    def dof_err_weights(self):
        """[num_dofs] per motion-DoF weights of the joint-velocity error."""
        return self._dof_w

    # ---------------- sizes ----------------
    @property
    def test_metrics(self):
        return ("tracking_error_m",) if self.config["log_tracking_error"] else ()

    @property
    def tar_obs_size(self):
        return 3 + 6 + 6 * len(self.char_model.movable_joints)

    @property
    def obs_dim(self):
        n = super().obs_dim
        if self.config["enable_tar_obs"]:
            n += self.tar_obs_size * len(self.config["tar_obs_steps"])
        if self.config["enable_phase_obs"]:
            n += 2 * int(self.config["num_phase_encoding"])
        return n

    # ---------------- reference ----------------
    def _on_reset(self, env_ids, frames):
        self._ref = self._tar_ref = self._body_dist = None  # recomputed for all envs on next use
        if self.config["enable_tar_obs"]:
            self._reset_tar_ref = (env_ids, frame_slice(frames, slice(1, None)))  # for _compute_obs(env_ids)

    def _on_reset_where(self, mask, frames):
        """The lookup at the new times serves every env's target observation (unchanged rows included)."""
        self._ref = self._body_dist = self._reset_tar_ref = None
        self._tar_ref = frame_slice(frames, slice(1, None)) if self.config["enable_tar_obs"] else None

    def ref_frame(self):
        """The reference MotionFrame [N] at the current time (what the reward compares against)."""
        return self._ref_frame()

    def _ref_frame(self):
        """MotionFrame [N] of the reference at the current time, body poses included.

        One lookup at times [N, 1 + S] also gives the target frames of the observation (kept in
        _tar_ref); forward kinematics runs on the current frame only."""
        if self._ref is None:
            times = self.motion_times().unsqueeze(-1) + self._reset_offsets  # [N, 1 + S]
            frames = self.motion_lib.calc_motion_frame(self._motion_ids.unsqueeze(-1), times, with_body=False)
            now = frame_slice(frames, 0)
            body_pos, body_rot = self.char_model.forward_kinematics(now.root_pos, now.root_rot, now.dof)
            self._ref = now._replace(body_pos=body_pos, body_rot=body_rot)
            if self.config["enable_tar_obs"]:
                self._tar_ref = frame_slice(frames, slice(1, None))
        return self._ref

    def _update_state(self):
        self._ref = self._tar_ref = self._body_dist = self._reset_tar_ref = None
        super()._update_state()

    def _render(self):
        ref = self._ref_frame()
        self._viewer.set_pose("ref", ref.body_pos[0], ref.body_rot[0])
        super()._render()

    # ---------------- observation ----------------
    def _compute_obs(self, env_ids=None):
        e = self.engine
        sel = (lambda x: x) if env_ids is None else (lambda x: x[env_ids])
        root_pos = sel(e.get_root_pos())
        heading_inv = rot.heading_quat_inv(sel(e.get_root_rot()))  # [K, 4], shared by both parts
        parts = [super()._compute_obs(env_ids, heading_inv=heading_inv)]
        if self.config["enable_tar_obs"]:
            parts.append(self._compute_tar_obs(env_ids, root_pos, heading_inv))
        if self.config["enable_phase_obs"]:
            length = self.motion_lib.get_motion_length(sel(self._motion_ids)).clamp_min(1e-6)
            phase = torch.remainder(self.motion_times(env_ids), length) / length  # [K] in [0, 1)
            k = torch.arange(1, int(self.config["num_phase_encoding"]) + 1, device=self.device)
            angle = 2.0 * math.pi * phase.unsqueeze(-1) * k  # [K, P]
            parts += [torch.sin(angle), torch.cos(angle)]
        return torch.cat(parts, dim=-1)

    def _compute_tar_obs(self, env_ids, root_pos, heading_inv):
        """Future reference frames of env_ids [K] (None: all) in the character's heading frame
        [K, steps * tar_obs_size]; root_pos [K, 3], heading_inv [K, 4] of the simulated root."""
        if env_ids is None:
            if self._tar_ref is None:
                self._ref_frame()  # looks the target frames up with the current reference
            ref = self._tar_ref
        elif self._reset_tar_ref is not None and self._reset_tar_ref[0] is env_ids:
            ref = self._reset_tar_ref[1]  # looked up by the reset of these envs
        else:
            times = self.motion_times(env_ids).unsqueeze(-1) + self._tar_offsets  # [K, S]
            ref = self.motion_lib.calc_motion_frame(self._motion_ids[env_ids].unsqueeze(-1), times, with_body=False)
        n, s = ref.root_pos.shape[:2]
        h = heading_inv.unsqueeze(1)  # [K, 1, 4], broadcast over the S steps
        rel_pos = rot.quat_rotate(h, ref.root_pos - root_pos.unsqueeze(1))  # [K, S, 3]
        rel_rot = rot.quat_to_tan_norm(rot.quat_mul(h, ref.root_rot))  # [K, S, 6]
        joints = rot.quat_to_tan_norm(take(ref.joint_rot, 2, self._joint_body_ids))  # [K, S, J, 6]
        return torch.cat([rel_pos, rel_rot, joints.reshape(n, s, -1)], dim=-1).reshape(n, -1)

    # ---------------- reward ----------------
    def _compute_reward(self):
        e, ref = self.engine, self._ref_frame()
        dof_pos, dof_vel, body_pos = e.get_dof_pos(), e.get_dof_vel(), e.get_body_pos()
        joint_rot = self.char_model.dof_to_local_rot(self.char_model.sim_to_dof(dof_pos))  # [N, B, 4]
        joint_vel = sim_vel_to_dof_vel(self.char_model, dof_pos, dof_vel)  # [N, num_dofs]
        angle_err = rot.quat_diff_angle(joint_rot, ref.joint_rot)  # [N, B]: for the reward and the log
        reward, terms = compute_deepmimic_reward(
            self.config, e.get_root_pos(), e.get_root_rot(), e.get_root_vel(), e.get_root_ang_vel(),
            joint_rot, joint_vel, body_pos, ref, self._joint_w, self._dof_w, self._key_ids, joint_angle_err=angle_err)
        self._body_dist = (body_pos - ref.body_pos).norm(dim=-1)  # [N, B]: also the pose termination's
        self._tracking_error = self._body_dist.mean(-1)  # [N]
        self._dof_error = take(angle_err, 1, self._joint_body_ids).mean(-1)
        self.reward_terms = terms
        return reward

    def step(self, action):
        obs, reward, done, info = super().step(action)
        if self.config["log_tracking_error"]:
            info["tracking_error_m"] = self._tracking_error.clone()  # before any reset
            info["tracking_dof_error_rad"] = self._dof_error.clone()
        return obs, reward, done, info

    # ---------------- termination ----------------
    def _compute_fail(self):
        fail = super()._compute_fail()
        if self.config["pose_termination"]:
            dist = self._body_dist  # computed by _compute_reward this step
            if dist is None:
                dist = (self.engine.get_body_pos() - self._ref_frame().body_pos).norm(dim=-1)
            fail |= dist.max(dim=-1).values > float(self.config["pose_termination_dist"])  # [N]
        return fail

    def _compute_success(self):
        """A clip that does not loop ends the episode (no more reference) when it runs out."""
        clamp = self.motion_lib.get_motion_loop_mode(self._motion_ids) == LoopMode.CLAMP.value
        return clamp & (self.motion_times() >= self.motion_lib.get_motion_length(self._motion_ids) - 0.5 * self.dt)


def compute_deepmimic_reward(cfg, root_pos, root_rot, root_vel, root_ang_vel, joint_rot, joint_vel,
                             body_pos, ref, joint_w, dof_w, key_ids, joint_angle_err=None):
    """The five-term tracking reward [N] and its terms {name: [N]} (see the module docstring).

    joint_rot [N, B, 4] local; joint_vel [N, num_dofs] in the motion layout; body_pos [N, B, 3];
    ref a MotionFrame; joint_w [B]; dof_w [num_dofs]; key_ids [K]; joint_angle_err [N, B]: the angles
    between joint_rot and ref.joint_rot when the caller has them already (else computed here).
    """
    if joint_angle_err is None:
        joint_angle_err = rot.quat_diff_angle(joint_rot, ref.joint_rot)
    pose_err = (joint_w * joint_angle_err.pow(2)).sum(-1)
    vel_err = (dof_w * (joint_vel - ref.dof_vel).pow(2)).sum(-1)
    root_pose_err = (root_pos - ref.root_pos).pow(2).sum(-1) + 0.1 * rot.quat_diff_angle(root_rot, ref.root_rot).pow(2)
    root_vel_err = (root_vel - ref.root_vel).pow(2).sum(-1) + 0.1 * (root_ang_vel - ref.root_ang_vel).pow(2).sum(-1)
    key = take(body_pos, 1, key_ids) - root_pos.unsqueeze(1)
    ref_key = take(ref.body_pos, 1, key_ids) - ref.root_pos.unsqueeze(1)
    key_err = (key - ref_key).pow(2).sum(-1).sum(-1)
    # the five terms at once: [N, 5] in REWARD_TERMS order
    neg_scales, weights = _reward_consts(cfg, pose_err)
    terms = torch.exp(neg_scales * torch.stack([pose_err, vel_err, root_pose_err, root_vel_err, key_err], dim=-1))
    reward = (weights * terms).sum(-1)
    return reward, dict(zip(REWARD_TERMS, terms.unbind(-1)))


REWARD_TERMS = ("pose", "vel", "root_pose", "root_vel", "key_pos")
_REWARD_CONSTS = {}


def _reward_consts(cfg, like):
    """(-scales [5], weights [5]) of cfg's reward terms on like's device, built once per config: a
    tensor made from Python numbers every step would be a host-to-device copy on the GPU."""
    values = tuple(float(cfg["reward_%s_%s" % (t, kind)]) for kind in ("scale", "w") for t in REWARD_TERMS)
    key = (like.device, like.dtype, values)
    c = _REWARD_CONSTS.get(key)
    if c is None:
        if len(_REWARD_CONSTS) > 64:  # configs tried interactively: keep the cache small
            _REWARD_CONSTS.clear()
        v = torch.tensor(values, dtype=like.dtype, device=like.device).view(2, -1)
        c = _REWARD_CONSTS[key] = (-v[0], v[1])
    return c


def sim_vel_to_dof_vel(char_model, sim_dof, sim_vel):
    """Hinge rates [..., D] -> motion-layout DoF velocities [..., num_dofs]: per 3-DoF joint its
    angular velocity in its own (child) frame, w = J(q) q', the inverse of ``dof_vel_to_sim``."""
    return char_model.sim_vel_to_dof_vel(sim_dof, sim_vel)  # all joints batched
