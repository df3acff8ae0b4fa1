"""Where a PPO iteration spends its time on the GPU: ``python tools/profile_ppo.py [--num_envs 4096] [--amp]``.

Prints milliseconds per iteration for the rollout and the update (each timed with the device
synchronized), the host time of one env step against the device time of its kernels (a step whose
host time is larger waits for Python, not for the GPU), and the torch.profiler tables of one
iteration: the ops that cost the most host time and the kernels that cost the most device time.
With ``--amp`` the agent is AMP on the steering env (the GPU bench's AMP row), and the update is
split further: PPO's part, drawing the dataset's discriminator windows, and the discriminator's update.
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from mimickit.bench_gpu import AGENT_CFG, AMP_AGENT_CFG, AMP_ENV_CFG, ENGINE_CFG, _sync, build_bench_env  # noqa: E402
from mimickit.learning.agent_builder import build_agent  # noqa: E402
from mimickit.learning.base_agent import EpisodeStats  # noqa: E402


def timed(fn, device):
    _sync(device)
    start = time.perf_counter()
    out = fn()
    _sync(device)
    return out, (time.perf_counter() - start) * 1e3


def iteration_split(agent, obs, iters):
    """-> (next obs, rollout ms, update ms), means over iters."""
    steps, roll, upd = agent.config["steps_per_iter"], 0.0, 0.0
    for _ in range(iters):
        (buf, obs), ms = timed(lambda: agent._rollout(obs, steps, EpisodeStats(agent.device)), agent.device)
        roll += ms
        _, ms = timed(lambda: agent._update(buf), agent.device)
        upd += ms
    return obs, roll / iters, upd / iters


def amp_update_split(agent, obs, iters):
    """AMP: -> (next obs, {part: ms}) for PPO's update, the dataset windows and the discriminator's update."""
    from mimickit.learning.ppo_agent import PPOAgent
    steps, parts = agent.config["steps_per_iter"], {"ppo_update": 0.0, "demo_windows": 0.0, "disc_update": 0.0}
    for _ in range(iters):
        buf, obs = agent._rollout(obs, steps, EpisodeStats(agent.device))
        fake = buf.flat("disc_obs")
        parts["ppo_update"] += timed(lambda: PPOAgent._update(agent, buf), agent.device)[1] / iters
        parts["demo_windows"] += timed(lambda: agent.env.sample_disc_obs_demo(fake.shape[0]), agent.device)[1] / iters
        parts["disc_update"] += timed(lambda: agent._disc_update(fake), agent.device)[1] / iters
    return obs, parts


def host_vs_device_step(env, steps=20):
    """Host ms per env step (launching, Python) and device ms per step (CUDA events around it)."""
    dev = env.device
    actions = [0.05 * torch.randn(env.num_envs, env.act_dim, device=dev) for _ in range(steps)]
    torch.cuda.synchronize(dev)
    begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start = time.perf_counter()
    begin.record()
    for a in actions:
        env.step(a)
    end.record()
    host = (time.perf_counter() - start) * 1e3 / steps
    torch.cuda.synchronize(dev)
    return host, begin.elapsed_time(end) / steps


def profile_tables(agent, obs, rows):
    from torch.profiler import ProfilerActivity, profile
    steps = agent.config["steps_per_iter"]
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        buf, obs = agent._rollout(obs, steps, EpisodeStats(agent.device))
        agent._update(buf)
        torch.cuda.synchronize(agent.device)
    avg = prof.key_averages()
    print(avg.table(sort_by="self_cpu_time_total", row_limit=rows), flush=True)
    print(avg.table(sort_by="self_cuda_time_total", row_limit=rows), flush=True)
    launches = sum(e.count for e in avg if e.key in ("cudaLaunchKernel", "cuLaunchKernel", "cudaLaunchKernelExC"))
    print("kernel launches in one iteration: %d (%.0f per env step if all were the rollout's)"
          % (launches, launches / steps), flush=True)
    return obs


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--num_envs", type=int, default=4096)
    p.add_argument("--device", default="cuda:0")
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--rows", type=int, default=25)
    p.add_argument("--no_tables", action="store_true")
    p.add_argument("--amp", action="store_true", help="AMP on the steering env instead of PPO on DeepMimic")
    args = p.parse_args()
    if torch.device(args.device).type != "cuda" or not torch.cuda.is_available():
        raise SystemExit("profile_ppo.py profiles the GPU engine: it needs a CUDA device (got %s)" % args.device)
    if args.amp:
        from mimickit.envs.env_builder import build_env
        torch.backends.cuda.matmul.allow_tf32 = True  # as build_bench_env: before the step compiles
        env = build_env(AMP_ENV_CFG, ENGINE_CFG, args.num_envs, args.device)
    else:
        env = build_bench_env(args.num_envs, args.device)
    agent = build_agent(AMP_AGENT_CFG if args.amp else AGENT_CFG, env, env.device)
    obs, _ = env.reset()
    obs, roll, upd = iteration_split(agent, obs, 1)  # compiles
    obs, roll, upd = iteration_split(agent, obs, args.iters)
    samples = agent.config["steps_per_iter"] * env.num_envs
    print("envs=%d rollout_ms=%.1f update_ms=%.1f samples_per_s=%.0f"
          % (env.num_envs, roll, upd, samples / (roll + upd) * 1e3), flush=True)
    if args.amp:
        obs, parts = amp_update_split(agent, obs, args.iters)
        print("amp update: " + " ".join("%s_ms=%.1f" % kv for kv in parts.items()), flush=True)
    host, device = host_vs_device_step(env)
    print("env step: host_ms=%.2f device_ms=%.2f" % (host, device), flush=True)
    if not args.no_tables:
        profile_tables(agent, obs, args.rows)


if __name__ == "__main__":
    main()
