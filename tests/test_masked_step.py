"""Masked stepping (the GPU default): fixed shapes, resets blended in where done, checks batched.

It must give what stepping by ids gives, flag bad values at the next check, reset diverged GPU worlds
on the device, and trace as one graph for torch.compile. Runs on the CPU: the GPU engine through
Warp's CPU device, the CPU engine too.
"""
import importlib.util
import os

import pytest
import torch

from mimickit.envs.base_env import CHECK_EVERY, DoneFlags, SimulationError, SimulationWarning
from mimickit.envs.env_builder import build_env
from mimickit.learning.base_agent import EpisodeStats
from mimickit.learning.normalizer import Normalizer

from conftest import REPO_ROOT

ENV_CFG = os.path.join(REPO_ROOT, "data", "envs", "deepmimic_humanoid_env.yaml")
CPU_CFG = os.path.join(REPO_ROOT, "data", "engines", "mujoco_engine.yaml")
WARP_CFG = os.path.join(REPO_ROOT, "data", "engines", "mujoco_warp_engine.yaml")
SPINKICK = os.path.join(REPO_ROOT, "data", "motions", "humanoid", "humanoid_spinkick.pkl")
GPU_DEVICE = "cuda:0" if torch.cuda.is_available() else "cpu"  # the GPU engine on Warp's CPU device in CI
NEEDS_WARP = pytest.mark.skipif(importlib.util.find_spec("mujoco_warp") is None, reason="needs the gpu extra")
ENGINES = [CPU_CFG, pytest.param(WARP_CFG, marks=NEEDS_WARP)]


def deepmimic(engine_cfg, num_envs=8, masked=False, **overrides):
    # one clip, starts at time 0: resets draw nothing random, so both ways of stepping can be compared
    cfg = dict(motion_file=SPINKICK, rand_reset=False)
    cfg.update(overrides)
    device = "cpu" if engine_cfg == CPU_CFG else GPU_DEVICE
    env = build_env(ENV_CFG, engine_cfg, num_envs, device, overrides=cfg)
    env.masked_step = masked
    env.compile_step = False
    return env


def roll(env, actions):
    env.reset()
    out = []
    for a in actions:
        obs, reward, done, info = env.step(a)
        out.append(dict(obs=obs.clone(), reward=reward.clone(), done=done.clone(),
                        terminal_obs=info["terminal_obs"].clone(), final_return=info["final_return"].clone(),
                        final_length=info["final_length"].clone(), done_ids=info["done_ids"].clone(),
                        episode_return=info["episode_return"].clone(), root_pos=env.engine.get_root_pos().clone()))
    out = [{k: v.cpu() for k, v in step.items()} for step in out]
    return out


@pytest.mark.parametrize("engine_cfg", ENGINES)
def test_masked_step_gives_what_stepping_by_ids_gives(engine_cfg):
    torch.manual_seed(0)
    n = 8
    by_ids, masked = deepmimic(engine_cfg, n), deepmimic(engine_cfg, n, masked=True)
    neutral = by_ids.neutral_action()
    actions = [neutral + 0.5 * torch.randn(n, by_ids.act_dim, device=neutral.device) for _ in range(36)]
    a, b = roll(by_ids, actions), roll(masked, actions)
    # the reset state is computed for 8 rows instead of K, so it may differ in its last bits; the
    # float32 GPU engine then amplifies that (a falling character is chaotic): states are compared
    # closely up to a few steps after the first resets, flags and rewards all the way. On a real GPU
    # MuJoCo Warp is not bitwise deterministic (atomic sums in the solver), so two identical runs part
    # after a few steps already: there only the first steps are compared.
    on_gpu = masked.device.type == "cuda"
    close_steps = len(actions) if engine_cfg == CPU_CFG else (4 if on_gpu else 15)
    atol = 1e-2 if on_gpu else 1e-3
    resets = 0
    for t, (x, y) in enumerate(zip(a, b)):
        if on_gpu and t >= close_steps:
            break
        assert torch.equal(x["done"], y["done"]), t
        assert torch.equal(x["done_ids"], y["done_ids"]) and torch.equal(x["final_length"], y["final_length"])
        keys = ("obs", "terminal_obs", "root_pos", "reward", "final_return", "episode_return")
        for key in keys if t < close_steps else keys[3:]:
            assert torch.allclose(x[key], y[key], atol=atol, rtol=1e-3), (t, key, (x[key] - y[key]).abs().max())
        resets += len(x["done_ids"]) if t < close_steps else 0
    assert resets >= 4 or on_gpu  # the random actions made characters fall, so resets were compared
    # where an episode ended the returned observation is the new episode's first one, not the terminal one
    ended = torch.cat([s["done"] != DoneFlags.NULL for s in b])  # masked stepping alone from here
    assert bool((torch.cat([s["obs"] for s in b]) - torch.cat([s["terminal_obs"] for s in b]))[ended].abs().amax(-1).gt(1e-3).all())


@pytest.mark.parametrize("engine_cfg", ENGINES)
def test_masked_step_flags_nan_actions_at_the_next_check(engine_cfg):
    env = deepmimic(engine_cfg, 4, masked=True)
    env.reset()
    action = env.neutral_action()
    action[2, 5] = float("nan")
    obs, _, _, _ = env.step(action)  # no error yet: the check waits for the device
    assert torch.isfinite(obs).all()  # the simulator got 0 for the bad row
    with pytest.raises(SimulationError, match=r"non-finite actions .* env ids \[2\]"):
        env.check_errors()
    env.check_errors()  # flags were cleared
    # step() itself checks every CHECK_EVERY steps
    env.step(action)
    with pytest.raises(SimulationError, match=r"env ids \[2\]"):
        for _ in range(CHECK_EVERY):
            env.step(env.neutral_action())


@NEEDS_WARP
def test_gpu_engine_resets_a_diverged_world_on_the_device():
    env = deepmimic(WARP_CFG, 4, masked=True)
    env.reset()
    eng = env.engine
    eng._qvel[1, 10] = 1e9  # world 1 blows up on the next step
    before = eng.get_root_pos().clone()
    _, _, done, info = env.step(env.neutral_action())
    assert eng.get_unstable_mask().tolist() == [False, True, False, False]
    done = done.cpu()
    assert done[1] == DoneFlags.FAIL and bool((done[[0, 2, 3]] == DoneFlags.NULL).all())
    assert torch.isfinite(info["terminal_obs"]).all()  # put back at the initial pose before observing
    assert torch.allclose(eng.get_root_pos()[[0, 2, 3]], before[[0, 2, 3]], atol=0.05)
    with pytest.warns(SimulationWarning, match=r"diverged in env ids \[1\]"):
        env.check_errors()
    assert env.num_diverged == 1


@NEEDS_WARP
def test_masked_step_traces_as_one_graph():
    """torch.compile fuses the step only if TorchDynamo traces it whole: no graph breaks."""
    env = deepmimic(WARP_CFG, 4, masked=True, rand_reset=True)
    env.reset()
    env.step(env.neutral_action())
    env._apply_action(env.neutral_action())
    env._simulate()
    torch._dynamo.reset()
    post = torch._dynamo.explain(env._post_physics_masked)()
    env._refresh_after_reset()
    obs = torch._dynamo.explain(env._compute_obs)()
    for name, ex in (("post-physics", post), ("observation", obs)):
        assert ex.graph_count == 1 and ex.graph_break_count == 0, (name, [str(b.reason)[:200] for b in ex.break_reasons])


@NEEDS_WARP
def test_training_waits_for_the_device_a_fixed_number_of_times():
    """On a GPU every host round trip (a tensor read as a Python number) stalls the pipeline. A PPO
    iteration on masked envs makes a few per iteration, none per env step or minibatch. Counted on
    the CPU by the ops that produce Python numbers (Adam's own step counters, CPU tensors even on a
    GPU, are left out)."""
    import traceback
    from torch.utils._python_dispatch import TorchDispatchMode
    from mimickit.learning.agent_builder import build_agent

    class CountReads(TorchDispatchMode):
        count = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func.overloadpacket.__name__ in ("_local_scalar_dense", "is_nonzero", "nonzero"):
                if not any("torch/optim" in f.filename.replace(os.sep, "/") for f in traceback.extract_stack()):
                    CountReads.count += 1
            return func(*args, **(kwargs or {}))

    env = deepmimic(WARP_CFG, 4, masked=True, rand_reset=True)
    counts = []
    for steps, batches in ((2, 1), (6, 3)):
        agent = build_agent(os.path.join(REPO_ROOT, "data", "agents", "deepmimic_humanoid_ppo_gpu_agent.yaml"), env)
        agent.config.update(steps_per_iter=steps, actor_batch_size=4 / batches, critic_batch_size=4 / batches)
        obs, _ = env.reset()
        agent.train_iteration(obs)  # the normalizer's first read of its count happens here
        CountReads.count = 0
        with CountReads():
            agent.train_iteration(obs)
        counts.append(CountReads.count)
    assert counts[0] == counts[1] and counts[0] <= 10, counts


def test_episode_stats_sum_on_the_device():
    stats = EpisodeStats("cpu")
    done = torch.tensor([DoneFlags.NULL, DoneFlags.TIME, DoneFlags.FAIL])
    info = {"final_return": torch.tensor([0.0, 5.0, 1.0]), "final_length": torch.tensor([0, 30, 6])}
    stats.add(done, info)
    stats.add(torch.tensor([DoneFlags.TIME, 0, 0]), {"final_return": torch.tensor([3.0, 0, 0]),
                                                    "final_length": torch.tensor([12, 0, 0])})
    out = stats.summary(dt=0.1)
    assert out["episodes"] == 3 and stats.count() == 3
    assert out["mean_return"] == pytest.approx(3.0) and out["mean_episode_length"] == pytest.approx(1.6)
    assert out["full_episode_frac"] == pytest.approx(2 / 3)


def test_normalizer_host_count_follows_loaded_state():
    norm = Normalizer(3, max_samples=100)
    norm.update(torch.randn(50, 3))
    assert not norm.frozen
    other = Normalizer(3, max_samples=100)
    other.update(torch.randn(150, 3))
    norm.load_state_dict(other.state_dict())
    assert norm.frozen  # the loaded count (150) counts, not the 50 seen before
    x = torch.randn(40, 3) * 3 + 1
    fresh = Normalizer(3)
    fresh.update(x[:10])
    fresh.update(x[10:])
    assert torch.allclose(fresh.mean, x.mean(0), atol=1e-5)
    assert torch.allclose(fresh.var, x.var(0, unbiased=False), atol=1e-4)
