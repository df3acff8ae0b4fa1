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

The hand-made DeepMimic terms are still computed (``reward_terms``, as in DeepMimic's env) so that they can
be compared with the discriminator's reward; they are not paid.
"""
import torch

from mimickit.envs.amp_env import compute_disc_obs, disc_obs_frame_dim, ref_disc_frame, sim_disc_frame
from mimickit.envs.deepmimic_env import DeepMimicEnv
from mimickit.util import rotations as rot


def differential_obs(sim_rows, ref_rows, layout):
    """Raw rows (amp_env.disc_frame) [N, frame_size] of the simulated and the reference state ->
    [N, disc_obs_frame_dim]: f(sim) - f(ref), its first two entries (0 in f) replaced by the simulated root's
    ground-plane offset from the reference root in the reference's heading frame."""
    diff = compute_disc_obs(sim_rows.unsqueeze(1), *layout) - compute_disc_obs(ref_rows.unsqueeze(1), *layout)
    heading_inv = rot.heading_quat_inv(ref_rows[:, 3:7])
    offset = rot.quat_rotate(heading_inv, sim_rows[:, 0:3] - ref_rows[:, 0:3])[:, :2]
    return torch.cat([offset, diff[:, 2:]], dim=-1)


class ADDEnv(DeepMimicEnv):
    def __init__(self, config, engine_config_file, num_envs, device="cpu", visualize=False,
                 path="<env config>"):
        super().__init__(config, engine_config_file, num_envs, device, visualize, path)
        self._layout = (len(self._joint_body_ids), self.char_model.num_dofs, len(self._key_ids))
        self._disc_obs = torch.zeros(self.num_envs, self.disc_obs_dim, device=self.device)  # [N, F]

    @property
    def disc_obs_dim(self):
        return disc_obs_frame_dim(*self._layout)

    def get_disc_obs(self):
        """[N, disc_obs_dim]: the differential observation of the current state against the reference."""
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
