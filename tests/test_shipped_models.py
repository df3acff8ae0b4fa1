"""The models we ship (trained on the GPU engine) play on the CPU engine: sim-to-sim tracking.

8 episodes of 10 s each per clip, held to the targets the models were trained for: mean body-position
error <= 0.05 m for walk and run, <= 0.10 m for spinkick, and at least 90% of the episodes reaching
the time limit. Measured when they were shipped (seed 0): walk 0.019 m, run 0.047 m, spinkick 0.080 m,
all episodes full. A change to the env, the engines or the agent that breaks playback fails here.
"""
import os

import pytest
import torch

from mimickit.envs.env_builder import build_env
from mimickit.learning.agent_builder import build_agent

from conftest import REPO_ROOT

# clip: (max mean body-position error in m, min fraction of episodes reaching the time limit)
BOUNDS = {"walk": (0.05, 0.9), "run": (0.05, 0.9), "spinkick": (0.10, 0.9)}


@pytest.mark.parametrize("clip", sorted(BOUNDS))
def test_shipped_model_tracks_on_the_cpu_engine(clip):
    model = os.path.join(REPO_ROOT, "data", "models", "deepmimic_humanoid_%s_ppo.pt" % clip)
    assert os.path.getsize(model) < 5e6  # actor-only, fp16
    torch.manual_seed(0)
    env = build_env(os.path.join(REPO_ROOT, "data", "envs", "deepmimic_humanoid_env.yaml"),
                    os.path.join(REPO_ROOT, "data", "engines", "mujoco_engine.yaml"), 8,
                    overrides={"motion_file": os.path.join(REPO_ROOT, "data", "motions", "humanoid",
                                                           "humanoid_%s.pkl" % clip)})
    agent = build_agent(os.path.join(REPO_ROOT, "data", "agents", "deepmimic_humanoid_ppo_agent.yaml"), env,
                        model_file=model)
    agent.load(model, weights_only=True)
    result = agent.test(8)
    env.close()
    max_err, min_full = BOUNDS[clip]
    assert result["tracking_error_m"] <= max_err, result
    assert result["full_episode_frac"] >= min_full, result
    assert result["mean_episode_length"] > 9.0, result


def test_models_together_fit_the_size_budget():
    folder = os.path.join(REPO_ROOT, "data", "models")
    total = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder) if f.endswith(".pt"))
    assert total <= 20e6
