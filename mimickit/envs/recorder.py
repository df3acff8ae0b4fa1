"""Recorded rollouts: every episode of an env written as a MimicKit clip.

    recorder = EpisodeRecorder(env, "out/rollouts", max_episodes=32)
    ...  # test episodes: env.reset(), env.step(...)
    recorder.close()  # -> out/rollouts/episode_0.pkl, ..., dataset.yaml

Each clip holds one episode of one env at the control rate, from the state it was reset to through the
state of its last step (a fall or the time limit), in the clip format of ``anim/motion.py`` (clamped, not
looping). Episodes are numbered in the order they end; ``dataset.yaml`` lists them, so the view_motion
env plays them back (``--motion_file DIR/dataset.yaml``) and any tool that reads clips can analyse them.
Episodes still running when the recorder closes are dropped.
"""
import os

import numpy as np
import yaml

from mimickit.anim.motion import LoopMode, Motion


class EpisodeRecorder:
    def __init__(self, env, out_dir, max_episodes=None):
        self.env = env
        self.out_dir = str(out_dir)
        self.max_episodes = max_episodes
        self.files = []  # clip paths written, in episode order
        self._frames = [None] * env.num_envs  # per env: the frames of its episode so far (numpy rows)
        self._wanted = None  # per env: whether its current episode is to be written (None: every episode)
        os.makedirs(self.out_dir, exist_ok=True)
        env.attach_recorder(self)

    @property
    def done(self):
        return self.max_episodes is not None and len(self.files) >= self.max_episodes

    def only(self, mask):
        """Write only the episodes that envs where mask [N] bool is True are running now (the test
        protocol's counted episodes); None: every episode."""
        self._wanted = None if mask is None else mask.cpu().numpy().copy()

    def begin(self, env_ids):
        """env_ids [K] were reset: their current state is the first frame of a new episode."""
        frames = self.env.motion_frames()[env_ids].cpu().numpy()
        for i, frame in zip(env_ids.tolist(), frames):
            self._frames[i] = [frame]

    def record(self, done):
        """After a step, before its resets: append every env's state; write the episodes that ended."""
        frames = self.env.motion_frames().cpu().numpy()
        for i, frame in enumerate(frames):
            if self._frames[i] is not None:
                self._frames[i].append(frame)
        for i in (done != 0).nonzero().flatten().tolist():
            wanted = self._wanted is None or self._wanted[i]
            if self._frames[i] is not None and wanted and not self.done:
                self._write(np.stack(self._frames[i]))
            self._frames[i] = None
            if self._wanted is not None:
                self._wanted[i] = False  # its next episode is not a counted one

    def _write(self, frames):
        path = os.path.join(self.out_dir, "episode_%d.pkl" % len(self.files))
        Motion(LoopMode.CLAMP, 1.0 / self.env.dt, frames, path=path).save(path)
        self.files.append(path)

    def close(self):
        """Detach from the env and write dataset.yaml (clip paths relative to it, equal weights)."""
        self.env.attach_recorder(None)
        entries = [{"file": os.path.basename(f), "weight": 1.0} for f in self.files]
        with open(os.path.join(self.out_dir, "dataset.yaml"), "w") as f:
            f.write("# %d recorded episodes at %g Hz (mimickit.envs.recorder)\n" % (len(entries), 1.0 / self.env.dt))
            yaml.safe_dump({"motions": entries}, f, sort_keys=False)
        return self.files
