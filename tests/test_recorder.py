"""Recorded rollouts (--record_motion): every test episode written as a clip that view_motion plays
back, and the clip statistics computed from such recordings."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

from mimickit.anim.clip_stats import clip_stats, max_turn_in_window, summarize, unwrapped_heading
from mimickit.anim.kin_char_model import KinCharModel
from mimickit.anim.motion import LoopMode, Motion, load_motion
from mimickit.envs.env_builder import build_env
from mimickit.envs.recorder import EpisodeRecorder
from mimickit.util import rotations as rot

from conftest import REPO_ROOT

ENGINE = os.path.join(REPO_ROOT, "data", "engines", "mujoco_engine.yaml")
DEEPMIMIC = os.path.join(REPO_ROOT, "data", "envs", "deepmimic_humanoid_env.yaml")
VIEW = os.path.join(REPO_ROOT, "data", "envs", "view_motion_humanoid_env.yaml")


def test_each_episode_is_a_clip_from_its_reset_state_to_its_last_step(tmp_path):
    torch.manual_seed(0)
    env = build_env(DEEPMIMIC, ENGINE, 3, overrides={"episode_length": 1.0})
    rec = EpisodeRecorder(env, tmp_path, max_episodes=5)
    env.reset()
    first = env.motion_frames().clone()
    states, ended = [], []
    while not rec.done:
        action = env.neutral_action() + 0.3 * torch.randn(3, env.act_dim)
        _, _, done, info = env.step(action)
        ended += info["done_ids"].tolist()
        states.append(info["terminal_obs"][:, 0].clone())  # the root height each step reached
    files = rec.close()
    assert len(files) == 5 and env._recorder is None
    clips = [load_motion(f) for f in files]
    for c in clips:
        assert c.fps == pytest.approx(30.0) and c.loop_mode == LoopMode.CLAMP and c.frame_size == 6 + 28
        assert 2 <= c.num_frames <= 31  # the reset state plus one frame per step, 1 s at most
    # episode 0 is the first to end: env ended[0], which started from the state recorded at reset()
    e0 = ended[0]
    assert np.allclose(clips[0].frames[0], first[e0].numpy(), atol=1e-5)
    heights = torch.stack(states)[:, e0]  # [steps] the root height after each step
    assert np.allclose(clips[0].frames[1:, 2], heights[:clips[0].num_frames - 1].numpy(), atol=1e-5)
    listed = yaml.safe_load(open(tmp_path / "dataset.yaml"))["motions"]
    assert [m["file"] for m in listed] == ["episode_%d.pkl" % k for k in range(5)]
    env.close()


def test_only_the_counted_episodes_are_written(tmp_path):
    """The test protocol (BaseAgent.test) counts the episode each chosen env is running; the recorder writes
    those and no other, however many other episodes end first."""
    torch.manual_seed(3)
    env = build_env(DEEPMIMIC, ENGINE, 3, overrides={"episode_length": 0.5})
    rec = EpisodeRecorder(env, tmp_path)
    env.reset()
    env.count_episodes_of(torch.tensor([False, True, False]))
    ended = []
    for _ in range(40):  # 15 steps an episode: several end for every env
        _, _, _, info = env.step(env.neutral_action() + 0.3 * torch.randn(3, env.act_dim))
        ended += info["done_ids"].tolist()
    assert ended.count(1) >= 2 and len(ended) >= 6
    assert len(rec.close()) == 1  # env 1's first episode alone
    env.close()


def test_recording_steps_by_ids_and_restores_masked_stepping(tmp_path):
    env = build_env(DEEPMIMIC, ENGINE, 2)
    env.masked_step = True
    rec = EpisodeRecorder(env, tmp_path)
    assert env.masked_step is False
    rec.close()
    assert env.masked_step is True
    env.close()


def test_view_motion_plays_a_recording_back(tmp_path):
    """Recorded through the CLI, played back kinematically: the same root positions at the same times."""
    run = [sys.executable, "mimickit/run.py", "--env_config", DEEPMIMIC, "--engine_config", ENGINE,
           "--mode", "test", "--num_envs", "2", "--test_episodes", "3", "--seed", "1",
           "--record_motion", str(tmp_path)]
    proc = subprocess.run(run, cwd=str(REPO_ROOT), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "recorded 3 episodes to %s" % os.path.join(str(tmp_path), "dataset.yaml") in proc.stdout
    clip = load_motion(str(tmp_path / "episode_0.pkl"))
    view = build_env(VIEW, ENGINE, 1, overrides={"motion_file": str(tmp_path / "dataset.yaml")})
    view._reset_counters_and_envs(torch.tensor([0]))
    view._motion_ids[0] = 0
    view._set_ref_state(torch.tensor([0]))
    for t in range(clip.num_frames):
        assert np.allclose(view.engine.get_root_pos()[0].numpy(), clip.frames[t, :3], atol=1e-4), t
        if t + 1 < clip.num_frames:
            view.step(view.neutral_action())
    view.close()
    bad = subprocess.run(run[:-2] + ["--mode", "train", "--record_motion", str(tmp_path)], cwd=str(REPO_ROOT),
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--record_motion records test episodes" in bad.stderr


def test_clip_stats_of_a_made_up_spin():
    km = KinCharModel(os.path.join(REPO_ROOT, "data", "assets", "humanoid", "humanoid.xml"))
    # 2 s at 30 Hz: a full turn about z in the first second, then still; the root rises 0.5 m
    t = np.arange(61) / 30.0
    yaw = np.where(t < 1.0, 2 * np.pi * t, 2 * np.pi)
    frames = np.zeros((61, km.frame_size), np.float32)
    frames[:, 2] = 0.9 + 0.5 * np.minimum(t, 1.0)
    exp = rot.quat_to_exp_map(rot.axis_angle_to_quat(torch.tensor([0.0, 0.0, 1.0]), torch.tensor(yaw, dtype=torch.float32)))
    frames[:, 3:6] = exp.numpy()
    stats = clip_stats(Motion(0, 30, frames), km, bodies=("head",), window_s=1.0)
    assert stats["length_s"] == pytest.approx(2.0)
    assert stats["max_turn_deg"] == pytest.approx(360.0, abs=0.5)  # unwrapped: beyond 180
    rest, _ = km.forward_kinematics(torch.zeros(3), torch.tensor([0.0, 0.0, 0.0, 1.0]), torch.zeros(km.num_dofs))
    head_above_root = rest[km.body_id("head"), 2].item()
    assert stats["max_height_m"] == pytest.approx(1.4 + head_above_root, abs=1e-4)  # at the highest root
    half = clip_stats(Motion(0, 30, frames), km, bodies=("head",), window_s=0.5)
    assert half["max_turn_deg"] == pytest.approx(180.0, abs=0.5)
    heading = unwrapped_heading(rot.exp_map_to_quat(torch.tensor(frames[:, 3:6])))
    assert max_turn_in_window(heading, 30.0, 0.3) == pytest.approx(0.6 * np.pi, abs=1e-3)  # 9 frames of 2 pi / s
    s = [{"length_s": 10.0, "max_turn_deg": 300.0, "max_height_m": 1.5},
         {"length_s": 4.0, "max_turn_deg": 300.0, "max_height_m": 1.2},
         {"length_s": 10.0, "max_turn_deg": 200.0, "max_height_m": 1.5}]
    assert summarize(s, 10.0, 270.0, 1.3, 30.0) == {"clips": 3, "full_frac": pytest.approx(2 / 3),
                                                    "skill_frac": pytest.approx(1 / 3)}
