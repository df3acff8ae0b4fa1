"""GPU throughput: ``python -m mimickit.bench gpu [--num_envs 1024 4096 16384]``.

For each env count, in the same run on the same GPU:

- raw: MuJoCo Warp stepping the env's own scene model, ``substeps`` physics steps per control
  step, replayed as one CUDA graph, with fixed random PD targets (the ceiling), in control steps/s;
- env: the DeepMimic env (walk) stepped with small random actions, observations, reward, reference
  lookups, early termination and resets included, in env steps/s, as training steps it (masked
  stepping, compiled); ``env_ids``: the same env stepped by ids, uncompiled (the CPU engine's way);
- ppo: PPO training (rollouts plus updates; no test episodes) in samples/s;
- amp: AMP training on the steering env (``amp_steering_humanoid``: discriminator windows, the
  dataset's windows, the style reward, the discriminator's update) in samples/s, and its ratio to ppo.

Prints one line per env count with ``envs=``, ``raw_steps_per_s=``, ``env_steps_per_s=``,
``env_ids_steps_per_s=``, ``ppo_samples_per_s=``, ``amp_samples_per_s=``, the ratios to the raw
ceiling, ``amp_ppo_ratio=`` and the seconds the first (compiling) env step took.
"""
import argparse
import datetime
import os
import statistics
import time

import torch

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV_CFG = os.path.join(REPO_ROOT, "data", "envs", "deepmimic_humanoid_env.yaml")
ENGINE_CFG = os.path.join(REPO_ROOT, "data", "engines", "mujoco_warp_engine.yaml")
AGENT_CFG = os.path.join(REPO_ROOT, "data", "agents", "deepmimic_humanoid_ppo_gpu_agent.yaml")
AMP_ENV_CFG = os.path.join(REPO_ROOT, "data", "envs", "amp_steering_humanoid_env.yaml")
AMP_AGENT_CFG = os.path.join(REPO_ROOT, "data", "agents", "amp_steering_humanoid_gpu_agent.yaml")


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def bench_raw(engine, seconds):
    """Control steps/s of the bare physics: the engine's scene, substeps of mjw.step per launch."""
    import mujoco_warp as mjw
    import warp as wp
    e = engine
    n = e.num_envs

    def physics():
        for _ in range(e.substeps):
            mjw.step(e.wm, e.wd)

    graph = e._capture(physics) if e._use_graph else None
    launch = lambda: e._launch(graph, physics)
    launch()
    _sync(e.torch_device)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(10):
            launch()
        steps += 10
        _sync(e.torch_device)
    return n * steps / (time.perf_counter() - start)


def bench_env(env, seconds):
    """Env steps/s with small random actions (an untrained policy's), resets included."""
    n, dev = env.num_envs, env.device
    env.reset()
    for _ in range(40):  # compiles, and runs past the first periodic check
        env.step(0.05 * torch.randn(n, env.act_dim, device=dev))
    _sync(dev)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.step(0.05 * torch.randn(n, env.act_dim, device=dev))
        steps += 1
    _sync(dev)
    return n * steps / (time.perf_counter() - start)


def env_step_parts(env, steps=50):
    """Milliseconds per part of a masked env step, each part timed with the device synchronized:
    -> {physics, post_physics, refresh, obs}. The sum exceeds a free-running step (no overlap)."""
    n, dev = env.num_envs, env.device
    post_physics, observe = env._get_masked_fns()
    parts = {"physics": env._simulate, "post_physics": post_physics,
             "refresh": env._refresh_after_reset, "obs": observe}
    totals = dict.fromkeys(parts, 0.0)
    for i in range(steps + 3):
        env._apply_action(0.05 * torch.randn(n, env.act_dim, device=dev))
        for name, fn in parts.items():
            _sync(dev)
            start = time.perf_counter()
            fn()
            _sync(dev)
            if i >= 3:
                totals[name] += (time.perf_counter() - start) * 1e3 / steps
    return totals


def bench_ppo(env, iters, agent_config=AGENT_CFG):
    """Training samples/s of the agent of agent_config (PPO, or AMP on an AMP env) over `iters`
    iterations (rollout plus update), after a warm-up one."""
    from mimickit.learning.agent_builder import build_agent
    from mimickit.learning.base_agent import EpisodeStats
    agent = build_agent(agent_config, env, env.device)
    steps = agent.config["steps_per_iter"]
    obs, _ = env.reset()
    for i in range(iters + 1):
        if i == 1:
            _sync(env.device)
            start = time.perf_counter()
        buf, obs = agent._rollout(obs, steps, EpisodeStats(env.device))
        agent._update(buf)
    _sync(env.device)
    return steps * env.num_envs * iters / (time.perf_counter() - start)


def build_bench_env(num_envs, device, motion="walk"):
    """The benchmarked DeepMimic env on the GPU engine, tracking data/motions/humanoid/humanoid_<motion>.pkl."""
    from mimickit.envs.env_builder import build_env
    # the TF32 setting PPO trains with (BaseAgent sets it), from the start: the compiled env step
    # depends on it and would otherwise be compiled again when the PPO agent is built
    torch.backends.cuda.matmul.allow_tf32 = True
    motion_file = os.path.join(REPO_ROOT, "data", "motions", "humanoid", "humanoid_%s.pkl" % motion)
    return build_env(ENV_CFG, ENGINE_CFG, num_envs, device, overrides={"motion_file": motion_file})


def run(args):
    device = args.device
    name = torch.cuda.get_device_name(device) if torch.device(device).type == "cuda" else "cpu"
    print("date %s  device %s  motion %s" % (datetime.date.today().isoformat(), name, args.motion), flush=True)
    rows = []
    for n in args.num_envs:
        env = build_bench_env(n, device, args.motion)
        start = time.perf_counter()
        env.reset()
        env.step(torch.zeros(n, env.act_dim, device=device))
        _sync(device)
        first_step = time.perf_counter() - start
        raws, envs, envs_ids = [], [], []
        for _ in range(args.repeats):  # interleaved, medians
            envs.append(bench_env(env, args.seconds))
            raws.append(bench_raw(env.engine, args.seconds))
            env.masked_step = False
            envs_ids.append(bench_env(env, args.seconds))
            env.masked_step = True
        ppo = bench_ppo(env, args.ppo_iters)
        parts = env_step_parts(env) if args.parts else None
        env.close()
        del env
        amp = bench_amp(n, device, args.ppo_iters)
        raw, env_sps, ids_sps = statistics.median(raws), statistics.median(envs), statistics.median(envs_ids)
        line = ("envs=%d raw_steps_per_s=%.0f env_steps_per_s=%.0f env_ids_steps_per_s=%.0f "
                "ppo_samples_per_s=%.0f amp_samples_per_s=%.0f env_ratio=%.3f ppo_ratio=%.3f amp_ppo_ratio=%.3f "
                "first_step_s=%.1f" % (n, raw, env_sps, ids_sps, ppo, amp, env_sps / raw, ppo / raw, amp / ppo,
                                       first_step))
        print(line, flush=True)
        rows.append(line)
        if parts is not None:
            print("  ms per step part: " + " ".join("%s=%.2f" % kv for kv in parts.items()), flush=True)
        torch.cuda.empty_cache() if torch.cuda.is_available() else None
    return rows


def bench_amp(num_envs, device, iters):
    """AMP training samples/s on the steering env, the same way as bench_ppo."""
    from mimickit.envs.env_builder import build_env
    env = build_env(AMP_ENV_CFG, ENGINE_CFG, num_envs, device)
    try:
        return bench_ppo(env, iters, AMP_AGENT_CFG)
    finally:
        env.close()


def add_args(parser):
    parser.add_argument("--num_envs", type=int, nargs="+", default=[1024, 4096, 16384])
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ppo_iters", type=int, default=4)
    parser.add_argument("--motion", default="walk")
    parser.add_argument("--parts", action="store_true", help="also time the parts of an env step")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_args(p)
    run(p.parse_args())
