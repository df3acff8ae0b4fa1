"""How checkpoints store their weights (mimickit/learning/checkpoint_precision.py): int8 actor files keep every
weight within half a step of its row's scale, take half of fp16's size and play the shipped walk as fp16 does;
tools/export_actor.py re-stores an actor file at another precision with its counters; slim checkpoints keep
actor, critic and discriminator without optimizer state."""
import os
import subprocess
import sys

import pytest
import torch

from mimickit.learning import checkpoint_precision
from mimickit.run import player_from_arg_file

from conftest import REPO_ROOT

WALK_ARGS = os.path.join(REPO_ROOT, "args", "deepmimic_humanoid_walk_ppo_gpu_args.txt")
WALK_MODEL = os.path.join(REPO_ROOT, "data", "models", "deepmimic_humanoid_walk_ppo.pt")


def test_int8_rows_round_to_half_a_step_and_the_rest_stays_exact():
    torch.manual_seed(0)
    w = torch.randn(5, 7) * torch.tensor([[0.01], [1.0], [3.0], [0.0], [-2.0]])  # rows of very different size
    state = {"actor_body.0.weight": w, "actor_body.0.bias": torch.randn(5), "obs_norm.mean": torch.randn(7),
             "obs_norm.count": torch.tensor(12, dtype=torch.int64)}
    saved, scales = checkpoint_precision.quantize(state, "int8")
    assert saved["actor_body.0.weight"].dtype == torch.int8 and list(scales) == ["actor_body.0.weight"]
    step = w.abs().amax(dim=1) / 127  # one row's scale [5]
    assert torch.allclose(scales["actor_body.0.weight"], step.clamp_min(1e-12))
    back = checkpoint_precision.dequantize(saved, scales)
    err = (back["actor_body.0.weight"] - w).abs()
    assert (err <= step.unsqueeze(1) / 2 + 1e-7).all() and back["actor_body.0.weight"][3].abs().max() == 0
    assert (err > 0).any()  # it does round
    # biases as fp32, the normalizer and integer buffers untouched
    assert torch.equal(back["actor_body.0.bias"], state["actor_body.0.bias"])
    assert torch.equal(saved["obs_norm.mean"], state["obs_norm.mean"]) and saved["obs_norm.count"].dtype == torch.int64
    half, none = checkpoint_precision.quantize(state, "fp16")
    assert none == {} and half["actor_body.0.weight"].dtype == torch.float16
    assert half["obs_norm.mean"].dtype == torch.float32
    with pytest.raises(ValueError, match="int4"):
        checkpoint_precision.quantize(state, "int4")


def test_export_stores_the_shipped_walk_as_int8_at_half_the_size_and_it_plays_the_same(tmp_path):
    out = tmp_path / "walk_int8.pt"
    res = subprocess.run([sys.executable, os.path.join(REPO_ROOT, "tools", "export_actor.py"),
                          "--env_config", os.path.join(REPO_ROOT, "data", "envs", "deepmimic_humanoid_env.yaml"),
                          "--agent_config", os.path.join(REPO_ROOT, "data", "agents",
                                                         "deepmimic_humanoid_ppo_gpu_agent.yaml"),
                          "--motion_file", os.path.join(REPO_ROOT, "data", "motions", "humanoid", "humanoid_walk.pkl"),
                          "--model_file", WALK_MODEL, "--out", str(out), "--precision", "int8"],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert out.stat().st_size < 0.55 * os.path.getsize(WALK_MODEL)
    shipped = torch.load(WALK_MODEL, map_location="cpu", weights_only=True)
    stored = torch.load(str(out), map_location="cpu", weights_only=True)
    assert (stored["iteration"], stored["sample_count"]) == (shipped["iteration"], shipped["sample_count"])
    results = []
    for model in (WALK_MODEL, str(out)):
        torch.manual_seed(0)
        env, agent = player_from_arg_file(WALK_ARGS, model, 8)
        obs = env.reset()[0]
        mean, _ = agent.model.act(obs, deterministic=True)
        results.append((mean, agent.test(8)))
        env.close()
    (mean16, res16), (mean8, res8) = results
    assert (mean16 - mean8).abs().max() < 0.05  # of action means of about 1
    assert (mean16 - mean8).abs().max() > 0  # the int8 weights are in use
    assert res8["full_episode_frac"] == 1.0 and abs(res8["tracking_error_m"] - res16["tracking_error_m"]) < 0.005


def test_a_slim_checkpoint_keeps_actor_critic_and_discriminator_at_a_fraction_of_the_size(tmp_path):
    """python -m mimickit.learning.checkpoint_precision FULL SLIM: no optimizer state, fp16 weights. Loaded to
    start from (--init_model_file), the actor, the critic and the discriminator are the full checkpoint's
    within fp16 rounding and the normalizers exactly; it refuses to resume a run, and training starts from it."""
    from conftest import bounded_cli_run
    from mimickit.learning.base_agent import CheckpointError
    arg_file = os.path.join("args", "add_humanoid_args.txt")
    bounded_cli_run(tmp_path, arg_file, max_samples=512)
    full, slim = tmp_path / "model.pt", tmp_path / "slim.pt"
    res = subprocess.run([sys.executable, "-m", "mimickit.learning.checkpoint_precision", str(full), str(slim)],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert slim.stat().st_size < 0.3 * full.stat().st_size
    state = torch.load(str(slim), map_location="cpu", weights_only=True)
    assert state["slim"] and not [k for k in state if k.endswith("optimizer")]
    agents = {}
    for name, model in (("full", full), ("slim", slim)):
        env, agents[name] = player_from_arg_file(os.path.join(REPO_ROOT, arg_file), str(model), 2)
        env.close()
    for net in ("model", "disc"):
        a, b = getattr(agents["full"], net).state_dict(), getattr(agents["slim"], net).state_dict()
        for k in a:
            if "obs_norm" in k:
                assert torch.equal(a[k], b[k]), k
            else:
                assert torch.allclose(a[k], b[k], rtol=1e-3, atol=1e-4), k
        assert any(not torch.equal(a[k], b[k]) for k in a)  # fp16 did round
    assert any(k.startswith("critic") for k in agents["slim"].model.state_dict())
    with pytest.raises(CheckpointError, match="init_model_file"):
        agents["slim"].load(str(slim))
    run = subprocess.run([sys.executable, "mimickit/run.py", "--arg_file", arg_file, "--num_envs", "4",
                          "--out_dir", str(tmp_path / "tuned"), "--max_samples", "256", "--init_model_file", str(slim)],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    with pytest.raises(ValueError, match="actor-only"):
        checkpoint_precision.slim_file(str(tmp_path / "model_actor.pt"), str(tmp_path / "x.pt"))
