"""ViewMotionEnv: plays dataset clips on the simulated character, kinematically (no physics, no
learning). Each env plays one clip drawn by the dataset's weights from its start; every step
writes the clip's frame at the env's time into the simulator, so observations, contacts and the
viewer all see exactly the reference pose. Actions are ignored.

An episode lasts the clip's length, or ``episode_length`` seconds when the config sets one
(wrapping clips then keep looping).
"""
import torch

from mimickit.anim.motion_lib import MotionLib
from mimickit.engines.engine import ConfigError
from mimickit.envs.base_env import REQUIRED
from mimickit.envs.char_env import CharEnv, dof_vel_to_sim, resolve_path


class ViewMotionEnv(CharEnv):
    CONFIG_KEYS = dict(CharEnv.CONFIG_KEYS, **{
        "motion_file": REQUIRED,  # a clip (.pkl) or a dataset (.yaml)
        "episode_length": None,  # seconds; None: each clip's own length
        "enable_early_termination": False,  # a played clip never fails
    })

    def __init__(self, config, engine_config_file, num_envs, device="cpu", visualize=False,
                 path="<env config>"):
        super().__init__(config, engine_config_file, num_envs, device, visualize, path)
        self.motion_file, self.motion_lib = load_motion_lib(self, path)
        self._motion_ids = torch.zeros(self.num_envs, dtype=torch.long, device=self.device)  # [N]

    def _reset_envs(self, env_ids):
        ids = self.motion_lib.sample_motions(len(env_ids))  # [K]
        self._motion_ids[env_ids] = ids
        if self.config["episode_length"] is None:
            # at least one step, so a single-frame clip still makes an episode
            self._episode_len[env_ids] = self.motion_lib.get_motion_length(ids).clamp_min(self.dt)
        self._set_ref_state(env_ids)

    def _apply_action(self, action):
        pass  # kinematic playback

    def _simulate(self):
        pass  # the pose is written in _update_state, at the new time

    def _update_state(self):
        self._set_ref_state(self._all_ids())
        super()._update_state()

    def _set_ref_state(self, env_ids):
        """Writes the reference frame at each env's time into the simulator."""
        frame = self.motion_lib.calc_motion_frame(self._motion_ids[env_ids], self._time[env_ids], with_body=False)
        dof_pos = self.char_model.dof_to_sim(frame.dof)  # [K, D] hinge angles
        dof_vel = dof_vel_to_sim(self.char_model, dof_pos, frame.dof_vel)  # [K, D] hinge rates
        self.set_char_state(env_ids, frame.root_pos, frame.root_rot, frame.root_vel, frame.root_ang_vel,
                            dof_pos, dof_vel)

    def get_motion_ids(self):
        return self._motion_ids.clone()


def load_motion_lib(env, config_path):
    """-> (motion file, MotionLib) of env.config's motion_file for env's character, on env's device; a
    missing or malformed clip or dataset raises a ConfigError naming the config."""
    motion_file = resolve_motion_file(env.config["motion_file"], config_path)
    try:
        return motion_file, MotionLib(motion_file, env.char_model, env.device)
    except (FileNotFoundError, ValueError) as e:  # ValueError includes MotionFormatError
        raise ConfigError("%s: motion_file '%s': %s" % (config_path, motion_file, e)) from e


def resolve_motion_file(motion_file, config_path):
    """Relative paths: working directory, then the repository root. Clips that our importer
    generates on first use need not exist yet, so a missing file is left to MotionLib."""
    try:
        return resolve_path(motion_file, "motion_file", config_path)
    except ConfigError:
        return str(motion_file)
