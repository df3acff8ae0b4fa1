"""The models we ship (trained on the GPU engine) play on the CPU engine: sim-to-sim tracking, AMP's
spin kick and steering judged from what the character does, and ASE's skills from the standing start.

8 episodes of 10 s each per clip (ADD's backflip: 32), held to the targets the models were trained for: mean
body-position error <= 0.05 m for walk and run, <= 0.10 m for DeepMimic's spinkick, <= 0.08 m for ADD's spin
kick, <= 0.12 m for ADD's backflip, and at least 90% of the episodes reaching the time limit. Measured when they
were shipped (seed 0): walk 0.019 m, run 0.047 m, spinkick 0.080 m, ADD's spin kick 0.066 m, ADD's backflip
0.118 m, all episodes full. A change to the env, the engines or the agent that breaks playback fails here.
"""
import os

import pytest
import torch

from mimickit.envs.env_builder import build_env
from mimickit.learning.agent_builder import load_player

from conftest import REPO_ROOT

CPU_ENGINE = os.path.join(REPO_ROOT, "data", "engines", "mujoco_engine.yaml")


def play_shipped(env_name, agent_name, model_name, episodes, motion_file=None, max_bytes=5e6, record_dir=None):
    """8 envs of the CPU engine play a shipped model (actor-only, under max_bytes) for `episodes` test episodes
    of 10 s, on motion_file if given -> (test summary, recorded clips)."""
    from mimickit.anim.motion import load_motion
    from mimickit.envs.recorder import EpisodeRecorder
    model = os.path.join(REPO_ROOT, "data", "models", model_name)
    assert os.path.getsize(model) < max_bytes  # actor-only
    torch.manual_seed(0)
    env = build_env(os.path.join(REPO_ROOT, "data", "envs", env_name), CPU_ENGINE, 8,
                    overrides={"motion_file": motion_file} if motion_file else None)
    agent = load_player(os.path.join(REPO_ROOT, "data", "agents", agent_name), env, model)
    recorder = EpisodeRecorder(env, record_dir, max_episodes=episodes) if record_dir else None
    result = agent.test(episodes)
    clips = [load_motion(f) for f in recorder.close()] if recorder else []
    env.close()
    return result, clips


# (method, clip): (model file, max mean body-position error in m, min fraction of episodes reaching the time
# limit, max file size, test episodes). The ADD models are stored at 8 bits per weight and held
# to #12's targets: the spin kick 0.08 m (0.067 m over 32 CPU episodes when shipped), the backflip 0.12 m over
# #12's 32 episodes (0.118 m here when shipped; on 8 episodes it measured 0.1196 m, too close to the bound for a
# regression test; the interim backflip before it, 0.127 m, fails here).
TRACKING_MODELS = {
    ("deepmimic", "walk"): ("deepmimic_humanoid_walk_ppo.pt", 0.05, 0.9, 5e6, 8),
    ("deepmimic", "run"): ("deepmimic_humanoid_run_ppo.pt", 0.05, 0.9, 5e6, 8),
    ("deepmimic", "spinkick"): ("deepmimic_humanoid_spinkick_ppo.pt", 0.10, 0.9, 5e6, 8),
    ("add", "spinkick"): ("add_humanoid_spinkick.pt", 0.08, 0.9, 2e6, 8),
    ("add", "backflip"): ("add_humanoid_backflip.pt", 0.12, 0.9, 2e6, 32),
}
ENV_AND_AGENT = {"deepmimic": ("deepmimic_humanoid_env.yaml", "deepmimic_humanoid_ppo_agent.yaml"),
                 "add": ("add_humanoid_env.yaml", "add_humanoid_agent.yaml")}


@pytest.mark.parametrize("method,clip", sorted(TRACKING_MODELS))
def test_shipped_model_tracks_on_the_cpu_engine(method, clip):
    model_name, max_err, min_full, max_bytes, episodes = TRACKING_MODELS[method, clip]
    env_file, agent_file = ENV_AND_AGENT[method]
    motion = os.path.join(REPO_ROOT, "data", "motions", "humanoid", "humanoid_%s.pkl" % clip)
    result, _ = play_shipped(env_file, agent_file, model_name, episodes, motion_file=motion, max_bytes=max_bytes)
    assert result["tracking_error_m"] <= max_err, result
    assert result["full_episode_frac"] >= min_full, result
    assert result["mean_episode_length"] > 9.0, result


def test_models_together_fit_the_size_budget():
    """All shipped models together within 20 MB: each file once (deepmimic_humanoid_spinkick_model.pt, MimicKit's
    name for our spin kick, is a link to it and ships no second copy)."""
    folder = os.path.join(REPO_ROOT, "data", "models")
    files = {os.path.realpath(os.path.join(folder, f)) for f in os.listdir(folder) if f.endswith(".pt")}
    assert all(os.path.dirname(f) == os.path.realpath(folder) for f in files)  # no link out of the folder
    total = sum(os.path.getsize(f) for f in files)
    assert total <= 20e6


# ---------------------------------------------------------------- AMP
def test_shipped_amp_spinkick_spins_and_kicks_in_its_recorded_episodes(tmp_path):
    """Judged from the recorded clips: >= 90% full 10 s episodes, and in >= 80% of them the root turns >= 270
    degrees within one second and a foot rises above 1.3 m (the clip: 309 degrees, 1.75 m)."""
    from mimickit.anim.clip_stats import clip_stats, summarize
    from mimickit.anim.kin_char_model import KinCharModel
    _, clips = play_shipped("amp_humanoid_env.yaml", "amp_humanoid_agent.yaml", "amp_humanoid_spinkick.pt", 8,
                            record_dir=tmp_path)
    km = KinCharModel(os.path.join(REPO_ROOT, "data", "assets", "humanoid", "humanoid.xml"))
    stats = [clip_stats(c, km, bodies=("right_foot", "left_foot"), window_s=1.0) for c in clips]
    summary = summarize(stats, 10.0, 270.0, 1.3, 30.0)
    assert summary["clips"] == 8
    assert summary["full_frac"] >= 0.9 and summary["skill_frac"] >= 0.8, (summary, stats)


def test_shipped_amp_steering_goes_where_it_is_told():
    """Random commands: >= 90% full episodes, speed error <= 0.4 m/s, direction error <= 15 degrees."""
    result, _ = play_shipped("amp_steering_humanoid_env.yaml", "amp_steering_humanoid_agent.yaml",
                         "amp_steering_humanoid.pt", 8)
    assert result["full_episode_frac"] >= 0.9, result
    assert result["task_speed_err_mps"] <= 0.4 and result["task_dir_err_deg"] <= 15.0, result


# ---------------------------------------------------------------- ASE
def test_shipped_ase_keeps_its_feet_from_the_standing_start():
    """8 random latents, each held for 5 s from the standing start at rest (deterministic policy): the root
    stays above 0.5 m throughout in every one. Measured at shipping: lowest root 0.79 m (the model before it:
    0.76 m). The models before hybrid initialization (dataset-frame starts only) lay on the ground (root
    0.07-0.09 m) under all 8."""
    from mimickit.envs.ase_env import sample_unit_latents
    from mimickit.learning import ase_eval
    model = os.path.join(REPO_ROOT, "data", "models", "ase_humanoid_upright.pt")
    assert os.path.getsize(model) < 5e6  # actor-only, fp16
    torch.manual_seed(0)
    env = ase_eval.build_latent_env(8, 5.0)
    agent = load_player(ase_eval.AGENT_CFG, env, model)
    rollout = ase_eval.rollout_latents(agent, sample_unit_latents(8, env.latent_dim), 5.0)
    env.close()
    lowest_root = rollout.root_pos[..., 2].min(dim=0).values  # [8]
    assert bool((lowest_root > 0.5).all()), lowest_root


def test_shipped_ase_latents_part_ways_more_than_its_noise():
    """#11's diversity measure (ase_eval, seed 0): 16 random latents x 3 runs of 5 s from the standing start with the
    stochastic policy; runs of different latents end up >= 3 times as far apart as runs of one latent. Measured at
    shipping: 3.35 (seeds 1 and 2: 3.13 and 3.15; seeds 0-29: 2.41-3.84, mean 3.26). The model before it (trained at
    action std 0.05) gives 2.02."""
    from mimickit.learning import ase_eval
    model = os.path.join(REPO_ROOT, "data", "models", "ase_humanoid_upright.pt")
    env = ase_eval.build_latent_env(48, 5.0)
    agent = load_player(ase_eval.AGENT_CFG, env, model)
    result = ase_eval.diversity(agent, 16, 3, 5.0, seed=0)
    env.close()
    assert result["ratio"] >= 3.0, (result["same"], result["different"])
    assert bool((result["lowest_root"] > ase_eval.FALLEN_ROOT_M).all()), result["lowest_root"]


def test_shipped_ase_stays_up_from_dataset_frames(monkeypatch):
    """#11's 32 episodes of 10 s with random latents from dataset frames, on the CPU engine as `run.py --mode test
    --num_envs 32 --test_episodes 32 --seed S` plays them, for seeds 0, 1 and 2 and 64 with seed 7: at least 90% of
    these 160 run to the time limit (the seeds of the earlier ASE models' figures). Measured at shipping: 147 of 160
    (91.9%; 27, 28, 29 and 63), every fall within 2.2 s of a start in mid-motion. Over 1504 episodes (seeds 0-45)
    the model keeps 90.6% (BENCHMARKS.md); this holds it to what it does on these 160."""
    from mimickit.run import player_from_arg_file, seed_everything
    monkeypatch.chdir(REPO_ROOT)  # the arg file's paths are from the repository root
    arg_file = os.path.join(REPO_ROOT, "args", "ase_humanoid_upright_args.txt")
    model = os.path.join(REPO_ROOT, "data", "models", "ase_humanoid_upright.pt")
    full = total = 0
    for seed, episodes in [(0, 32), (1, 32), (2, 32), (7, 64)]:
        seed_everything(seed)
        env, agent = player_from_arg_file(arg_file, model, 32)
        result = agent.test(episodes)
        env.close()
        full += round(result["full_episode_frac"] * result["episodes"])
        total += result["episodes"]
    assert total == 160 and full / total >= 0.9, (full, total)
