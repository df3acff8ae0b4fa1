"""GPU throughput: ``python -m mimickit.bench gpu [--num_envs 1024 4096 16384]``.

For each env count, in the same run on the same GPU:

- raw: MuJoCo Warp stepping the env's own scene model, ``substeps`` physics steps per control
  step, replayed as one CUDA graph, with fixed random PD targets (the ceiling), in control steps/s;
- env: the DeepMimic env (walk) stepped with small random actions, observations, reward, reference
  lookups, early termination and resets included, in env steps/s;
- ppo: PPO training (rollouts plus updates; no test episodes) in samples/s.

Prints one line per env count with ``envs=``, ``raw_steps_per_s=``, ``env_steps_per_s=``,
``ppo_samples_per_s=`` and the two ratios to the raw ceiling.
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
    for _ in range(5):
        env.step(0.05 * torch.randn(n, env.act_dim, device=dev))
    _sync(dev)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.step(0.05 * torch.randn(n, env.act_dim, device=dev))
        steps += 1
    _sync(dev)
    return n * steps / (time.perf_counter() - start)


def bench_ppo(env, iters, agent_config=AGENT_CFG):
    """PPO samples/s over `iters` training iterations (rollout plus update), after a warm-up one."""
    from mimickit.learning.agent_builder import build_agent
    agent = build_agent(agent_config, env, env.device)
    steps = agent.config["steps_per_iter"]
    obs, _ = env.reset()
    for i in range(iters + 1):
        if i == 1:
            _sync(env.device)
            start = time.perf_counter()
        buf, obs = agent._rollout(obs, steps, [], [])
        agent._update(buf)
    _sync(env.device)
    return steps * env.num_envs * iters / (time.perf_counter() - start)


def run(args):
    from mimickit.envs.env_builder import build_env
    device = args.device
    name = torch.cuda.get_device_name(device) if torch.device(device).type == "cuda" else "cpu"
    print("date %s  device %s  motion %s" % (datetime.date.today().isoformat(), name, args.motion), flush=True)
    rows = []
    for n in args.num_envs:
        env = build_env(ENV_CFG, ENGINE_CFG, n, device,
                        overrides={"motion_file": os.path.join(REPO_ROOT, "data", "motions", "humanoid",
                                                               "humanoid_%s.pkl" % args.motion)})
        raws, envs = [], []
        for _ in range(args.repeats):  # interleaved, medians
            envs.append(bench_env(env, args.seconds))
            raws.append(bench_raw(env.engine, args.seconds))
        ppo = bench_ppo(env, args.ppo_iters)
        raw, env_sps = statistics.median(raws), statistics.median(envs)
        line = ("envs=%d raw_steps_per_s=%.0f env_steps_per_s=%.0f ppo_samples_per_s=%.0f "
                "env_ratio=%.3f ppo_ratio=%.3f" % (n, raw, env_sps, ppo, env_sps / raw, ppo / raw))
        print(line, flush=True)
        rows.append(line)
        env.close()
        del env
        torch.cuda.empty_cache() if torch.cuda.is_available() else None
    return rows


def add_args(parser):
    parser.add_argument("--num_envs", type=int, nargs="+", default=[1024, 4096, 16384])
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ppo_iters", type=int, default=4)
    parser.add_argument("--motion", default="walk")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_args(p)
    run(p.parse_args())
