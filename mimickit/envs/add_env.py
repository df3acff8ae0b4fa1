"""ADDEnv (Peng et al. 2025, adversarial differential discriminators): DeepMimic's tracking, scored by a
discriminator instead of a hand-made reward.

Everything DeepMimic's env does stays: the reference clip and its future frames in the observation,
reference state initialization, early termination (falls and pose termination), ``tracking_error_m``
in test mode. The env's own reward is 0: the ADD agent pays the policy from a discriminator that looks
at the **difference** between the simulated and the reference state,

    disc_obs = f(sim) - f(ref)      plus the root's ground-plane offset from the reference root

where f is one state of AMP's discriminator observation (``amp_env.compute_disc_obs``: root height,
rotation and velocities in the heading frame, joint rotations and velocities, key bodies relative to
the root; each side in its own heading frame) and the offset is taken in the reference's heading frame.
Perfect tracking is the zero vector: it is the only "real" sample (``sample_disc_obs_demo`` returns
zeros), every policy difference is "fake", so the discriminator learns how far from zero, in which
directions, tracking is off, without reward weights or scales to tune.

``disc_obs: global`` takes every quantity in the world frame, so that D sees errors of heading, which the
heading-frame features above cannot (each side in its own heading frame: a character that turns away from
the reference changes them only through its ground offset): root position, rotation (tangent-normal),
velocity and angular velocity, every body's position relative to the root and its world rotation, and the
DoF velocities, simulated minus reference (``global_state``), as the ADD paper's implementation does.

``disc_obs: errors`` gives D another differential vector: non-negative tracking errors, one per objective,
as the ADD paper writes its differential vector (each zero when tracking is perfect): the root's ground
distance and height difference to the reference, its rotation angle, the norms of its linear and angular
velocity errors, each joint's rotation angle, each DoF's velocity error and each key body's world position
error (``tracking_errors``). ``features`` (the default) is the signed heading-frame difference above.

The hand-made DeepMimic terms are still computed (``reward_terms``, as in DeepMimic's env) so that they can
be compared with the discriminator's reward; they are not paid.
"""
import torch

from mimickit.engines.engine import ConfigError
from mimickit.envs.amp_env import compute_disc_obs, disc_obs_frame_dim, ref_disc_frame, sim_disc_frame
from mimickit.envs.deepmimic_env import DeepMimicEnv, sim_vel_to_dof_vel
from mimickit.util import rotations as rot
from mimickit.util.indexing import take

DISC_OBS_KINDS = ("features", "global", "errors")


def differential_obs(sim_rows, ref_rows, layout):
    """Raw rows (amp_env.disc_frame) [N, frame_size] of the simulated and the reference state ->
    [N, disc_obs_frame_dim]: f(sim) - f(ref), its first two entries (0 in f) replaced by the simulated root's
    ground-plane offset from the reference root in the reference's heading frame."""
    diff = compute_disc_obs(sim_rows.unsqueeze(1), *layout) - compute_disc_obs(ref_rows.unsqueeze(1), *layout)
    heading_inv = rot.heading_quat_inv(ref_rows[:, 3:7])
    offset = rot.quat_rotate(heading_inv, sim_rows[:, 0:3] - ref_rows[:, 0:3])[:, :2]
    return torch.cat([offset, diff[:, 2:]], dim=-1)


def global_state(root_pos, root_rot, root_vel, root_ang_vel, body_pos, body_rot, dof_vel):
    """One side of ``disc_obs: global``, all in the world frame -> [N, 15 + 9 (B - 1) + num_dofs]: root position
    [N, 3], rotation [N, 4] xyzw as tangent-normal (6), velocity and angular velocity [N, 3]; the bodies
    [N, B, 3 | 4] other than the root: position relative to the root (3) and world rotation as tangent-normal
    (6); DoF velocities [N, num_dofs] (motion layout)."""
    rel_pos = body_pos[:, 1:] - root_pos.unsqueeze(1)  # [N, B - 1, 3]
    return torch.cat([root_pos, rot.quat_to_tan_norm(root_rot), root_vel, root_ang_vel, rel_pos.flatten(1),
                      rot.quat_to_tan_norm(body_rot[:, 1:]).flatten(1), dof_vel], dim=-1)


def tracking_errors(root_pos, root_rot, root_vel, root_ang_vel, joint_rot, dof_vel, body_pos, ref,
                    joint_body_ids, key_ids):
    """The non-negative differential vector (``disc_obs: errors``) [N, 5 + J + num_dofs + K]: root ground
    distance and |height difference| (m), root rotation angle (rad), |root velocity error| (m/s), |root
    angular velocity error| (rad/s), each joint's rotation angle [J], each DoF's |velocity error| [num_dofs]
    and each key body's world position error [K]; all zero at perfect tracking. The simulated state: root
    [N, 3] (rot [N, 4] xyzw), joint_rot [N, B, 4] local, dof_vel [N, num_dofs] motion layout, body_pos
    [N, B, 3]; ref a MotionFrame [N] with body positions."""
    root_err = root_pos - ref.root_pos
    return torch.cat([
        root_err[:, :2].norm(dim=-1, keepdim=True), root_err[:, 2:3].abs(),
        rot.quat_diff_angle(root_rot, ref.root_rot).unsqueeze(-1),
        (root_vel - ref.root_vel).norm(dim=-1, keepdim=True), (root_ang_vel - ref.root_ang_vel).norm(dim=-1, keepdim=True),
        take(rot.quat_diff_angle(joint_rot, ref.joint_rot), 1, joint_body_ids),
        (dof_vel - ref.dof_vel).abs(),
        take((body_pos - ref.body_pos).norm(dim=-1), 1, key_ids),
    ], dim=-1)


class ADDEnv(DeepMimicEnv):
    CONFIG_KEYS = dict(DeepMimicEnv.CONFIG_KEYS, **{
        "disc_obs": "features",  # D's differential vector: "features" (signed) or "errors" (non-negative)
    })

    def __init__(self, config, engine_config_file, num_envs, device="cpu", visualize=False,
                 path="<env config>"):
        super().__init__(config, engine_config_file, num_envs, device, visualize, path)
        if self.config["disc_obs"] not in DISC_OBS_KINDS:
            raise ConfigError("%s: disc_obs is %r; expected one of %s" % (path, self.config["disc_obs"],
                                                                          ", ".join(DISC_OBS_KINDS)))
        self._layout = (len(self._joint_body_ids), self.char_model.num_dofs, len(self._key_ids))
        self._disc_obs = torch.zeros(self.num_envs, self.disc_obs_dim, device=self.device)  # [N, F]

    @property
    def disc_obs_dim(self):
        num_joints, num_dofs, num_keys = self._layout
        if self.config["disc_obs"] == "errors":
            return 5 + num_joints + num_dofs + num_keys
        if self.config["disc_obs"] == "global":
            return 15 + 9 * (self.char_model.num_bodies - 1) + num_dofs
        return disc_obs_frame_dim(*self._layout)

    def get_disc_obs(self):
        """[N, disc_obs_dim]: the differential observation of the current state against the reference."""
        if self.config["disc_obs"] == "errors":
            e, km = self.engine, self.char_model
            dof_pos = e.get_dof_pos()
            joint_rot = km.dof_to_local_rot(km.sim_to_dof(dof_pos))  # [N, B, 4]
            return tracking_errors(e.get_root_pos(), e.get_root_rot(), e.get_root_vel(), e.get_root_ang_vel(),
                                   joint_rot, sim_vel_to_dof_vel(km, dof_pos, e.get_dof_vel()), e.get_body_pos(),
                                   self._ref_frame(), self._joint_body_ids, self._key_ids)
        if self.config["disc_obs"] == "global":
            e, km, ref = self.engine, self.char_model, self._ref_frame()
            dof_vel = sim_vel_to_dof_vel(km, e.get_dof_pos(), e.get_dof_vel())
            sim = global_state(e.get_root_pos(), e.get_root_rot(), e.get_root_vel(), e.get_root_ang_vel(),
                               e.get_body_pos(), e.get_body_rot(), dof_vel)
            return sim - global_state(ref.root_pos, ref.root_rot, ref.root_vel, ref.root_ang_vel, ref.body_pos,
                                      ref.body_rot, ref.dof_vel)
        sim = sim_disc_frame(self.engine, self.char_model, self._joint_body_ids, self._key_ids)
        ref = ref_disc_frame(self._ref_frame(), self.char_model, self._joint_body_ids, self._key_ids)
        return differential_obs(sim, ref, self._layout)

    def _update_state(self):
        super()._update_state()
        self._disc_obs = self.get_disc_obs()  # of the state this step reached, kept through the resets

    def _compute_reward(self):
        super()._compute_reward()  # tracking error, pose termination's distances, the hand-made terms
        return torch.zeros(self.num_envs, device=self.device)

    def step(self, action):
        obs, reward, done, info = super().step(action)
        info["disc_obs"] = self._disc_obs
        return obs, reward, done, info

    def sample_disc_obs_demo(self, n, return_times=False):
        """The discriminator's positives: n perfect-tracking differences, all zero [n, disc_obs_dim]."""
        if return_times:
            raise ValueError("ADD's positives are zero differences: they have no clip times")
        return torch.zeros(n, self.disc_obs_dim, device=self.device)
