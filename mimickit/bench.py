"""Benchmarks. ``python -m mimickit.bench engine [--num_envs 1 64 512] [--steps N] [--threads T]``

engine: for each env count, in the same run,

- env: steps/s of the character env (``data/envs/char_humanoid_env.yaml`` on the ``mujoco`` engine)
  stepped with random actions, observations, early termination and resets included;
- raw: the MuJoCo ceiling, ``mujoco.rollout.Rollout`` stepping the env's own compiled scene model
  with the same thread count, one rollout call of ``substeps`` physics steps per control step,
  random PD targets in the joint ranges, and the env's early termination (a character touching
  the ground with a body the env does not allow restarts from the initial state), so that both
  carry the same contact load. Counted in control steps (physics steps / substeps).

Each repeat times the env, then raw, for at least ``--min_time`` seconds (or exactly ``--steps``
control steps); the figures are the medians of ``--repeats`` interleaved repeats, after a warm-up.
``--torch_threads 1`` runs the env's tensor work on one thread (torch's default is one per core,
which competes with MuJoCo's threads); ``--profile`` adds a cProfile of the env.
"""
import argparse
import cProfile
import datetime
import io
import os
import platform
import pstats
import shutil
import statistics
import sys
import tempfile
import time

import mujoco
import numpy as np
import torch
import yaml
from mujoco import rollout as mj_rollout

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_ENV = os.path.join(REPO_ROOT, "data", "envs", "char_humanoid_env.yaml")
DEFAULT_ENGINE = os.path.join(REPO_ROOT, "data", "engines", "mujoco_engine.yaml")


def num_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# ---------------------------------------------------------------- the two workloads

class EnvRunner:
    """The env on the mujoco engine, stepped with uniform random actions in [-1, 1]."""

    def __init__(self, env_config, engine_config, num_envs, seed=0):
        from mimickit.envs.env_builder import build_env
        self.env = build_env(env_config, engine_config, num_envs)
        self.num_envs = num_envs
        self.gen = torch.Generator().manual_seed(seed)
        self.env.reset()
        self.episodes = 0

    def step(self):
        env = self.env
        action = torch.rand(self.num_envs, env.act_dim, generator=self.gen) * 2.0 - 1.0
        _, _, _, info = env.step(action)
        self.episodes += len(info["done_ids"])

    def close(self):
        self.env.close()


class RawRunner:
    """mujoco.rollout on the env's compiled model: the physics alone, as the env drives it."""

    def __init__(self, env, num_threads, seed=0):
        engine = env.engine
        m = engine.model  # the very model the engine's batch copies
        self.model = m
        self.models = [m] * env.num_envs
        self.num_envs = n = env.num_envs
        self.substeps = engine.substeps
        self.datas = [mujoco.MjData(m) for _ in range(max(1, num_threads))]
        self.pool = mj_rollout.Rollout(nthread=num_threads)
        spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
        data = mujoco.MjData(m)
        mujoco.mj_forward(m, data)
        s0 = np.empty(mujoco.mj_stateSize(m, spec))
        mujoco.mj_getState(m, data, s0, spec)
        self.init_state = s0
        self.state0 = np.tile(s0, (n, 1))
        self.states = np.empty((n, self.substeps, s0.size))
        self.sensordata = np.empty((n, self.substeps, m.nsensordata))
        self.ctrl = np.empty((n, self.substeps, m.nu))
        # PD targets (or torques) uniformly in each actuator's range, as the env's random actions
        if engine.control_mode == "torque":
            hi = m.actuator_ctrlrange[:, 1]
            self.lo, self.span = -hi, 2.0 * hi
        else:
            rng = m.jnt_range[m.actuator_trnid[:, 0]]
            self.lo, self.span = rng[:, 0], rng[:, 1] - rng[:, 0]
        self.rng = np.random.default_rng(seed)
        # early termination: the env's contact check on the scene's per-body contact sensors
        cfg = env.config
        self.terminate = bool(cfg.get("enable_early_termination", False))
        self.force_threshold = float(cfg.get("contact_force_threshold", 1.0))
        self.allowed = np.zeros(engine.num_bodies, bool)
        for name in cfg.get("contact_bodies", []):
            self.allowed[env.char_model.body_id(name)] = True
        self.num_bodies = engine.num_bodies
        self.episodes = 0

    def step(self):
        n = self.num_envs
        u = self.rng.random((n, 1, self.model.nu))
        self.ctrl[:] = self.lo + u * self.span  # held for the substeps
        self.pool.rollout(self.models, self.datas, self.state0, self.ctrl, nstep=self.substeps,
                          state=self.states, sensordata=self.sensordata, skip_checks=True)
        self.state0[:] = self.states[:, -1]
        if self.terminate:
            force = self.sensordata[:, -1].reshape(n, self.num_bodies, 4)[:, :, 1:]
            touching = (force * force).sum(-1) > self.force_threshold ** 2
            fail = (touching & ~self.allowed).any(-1)
            if fail.any():
                self.state0[fail] = self.init_state
                self.episodes += int(fail.sum())

    def close(self):
        self.pool.close()


# ---------------------------------------------------------------- timing

def time_runner(runner, min_time, steps):
    """-> (control steps per second, i.e. env steps per second over all envs; seconds)."""
    count = 0
    start = time.perf_counter()
    while True:
        runner.step()
        count += 1
        elapsed = time.perf_counter() - start
        if (steps is not None and count >= steps) or (steps is None and elapsed >= min_time):
            break
    return count * runner.num_envs / elapsed, elapsed


def warm_up(runner, seconds):
    start = time.perf_counter()
    n = 0
    while n < 3 or time.perf_counter() - start < seconds:
        runner.step()
        n += 1


def engine_yaml_with_threads(engine_config, num_threads, tmp_dir):
    """A copy of the engine YAML whose num_threads is num_threads."""
    with open(engine_config) as f:
        cfg = yaml.safe_load(f) or {}
    cfg["num_threads"] = int(num_threads)
    path = os.path.join(tmp_dir, "engine_%d_threads.yaml" % num_threads)
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f)
    return path


def profile_env(runner, seconds, top=25):
    prof = cProfile.Profile()
    prof.enable()
    start = time.perf_counter()
    n = 0
    while time.perf_counter() - start < seconds:
        runner.step()
        n += 1
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    return n, out.getvalue()


def bench_engine(args):
    threads = args.threads if args.threads > 0 else num_cores()
    cores = num_cores()
    if args.torch_threads > 0:
        torch.set_num_threads(args.torch_threads)
    print("# mimickit.bench engine  %s" % datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"))
    print("# machine: %d cores, %s; simulation threads: %d, torch threads: %d, load average: %s"
          % (cores, cpu_name(), threads, torch.get_num_threads(), " ".join("%.2f" % x for x in os.getloadavg())))
    print("# python %s, torch %s, mujoco %s, numpy %s" % (platform.python_version(), torch.__version__,
                                                           mujoco.__version__, np.__version__))
    what = ("%d control steps" % args.steps) if args.steps else ("at least %.1f s" % args.min_time)
    print("# env: %s with uniform random actions in [-1, 1]; raw: mujoco.rollout, same model, "
          "threads and substeps" % os.path.relpath(args.env_config, REPO_ROOT))
    print("# each figure: median of %d interleaved repeats of %s, after a %.1f s warm-up"
          % (args.repeats, what, args.warmup))
    sys.stdout.flush()
    tmp_dir = tempfile.mkdtemp(prefix="mimickit_bench_")
    rows = []
    try:
        engine_config = engine_yaml_with_threads(args.engine_config, threads, tmp_dir)
        for n in args.num_envs:
            env_run = EnvRunner(args.env_config, engine_config, n)
            raw_run = RawRunner(env_run.env, threads)
            warm_up(env_run, args.warmup)
            warm_up(raw_run, args.warmup)
            env_rates, raw_rates = [], []
            env_run.episodes = raw_run.episodes = 0
            env_steps = raw_steps = 0.0
            for _ in range(args.repeats):
                rate, sec = time_runner(env_run, args.min_time, args.steps)
                env_rates.append(rate)
                env_steps += rate * sec
                rate, sec = time_runner(raw_run, args.min_time, args.steps)
                raw_rates.append(rate)
                raw_steps += rate * sec
            env_rate, raw_rate = statistics.median(env_rates), statistics.median(raw_rates)
            row = dict(envs=n, env=env_rate, raw=raw_rate, ratio=env_rate / raw_rate,
                       env_spread=(min(env_rates), max(env_rates)), raw_spread=(min(raw_rates), max(raw_rates)),
                       env_ep=env_steps / max(1, env_run.episodes), raw_ep=raw_steps / max(1, raw_run.episodes))
            rows.append(row)
            print("envs=%d env_steps_per_s=%.0f raw_steps_per_s=%.0f ratio=%.2f  "
                  "(env %.0f-%.0f, raw %.0f-%.0f; mean episode %.1f env / %.1f raw steps)"
                  % (n, env_rate, raw_rate, row["ratio"], row["env_spread"][0], row["env_spread"][1],
                     row["raw_spread"][0], row["raw_spread"][1], row["env_ep"], row["raw_ep"]))
            sys.stdout.flush()
            if args.profile and n == max(args.num_envs):
                steps, text = profile_env(env_run, args.min_time)
                print("# cProfile of the env, %d envs, %d steps (sorted by own time):" % (n, steps))
                print("\n".join("#   " + line for line in text.strip().splitlines()))
            env_run.close()
            raw_run.close()
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    print()
    print("| envs | env steps/s | raw MuJoCo steps/s | env / raw |")
    print("|---:|---:|---:|---:|")
    for r in rows:
        print("| %d | %.0f | %.0f | %.2f |" % (r["envs"], r["env"], r["raw"], r["ratio"]))
    return rows


def bench_train(args):
    """PPO training samples/s (DeepMimic walk, rollouts plus updates) next to the raw ceiling."""
    from mimickit.bench_gpu import bench_ppo
    from mimickit.envs.env_builder import build_env
    torch.set_num_threads(max(1, args.torch_threads))
    print("date %s  cores %d  simulation threads %s  torch threads %d  load %s" % (
        datetime.date.today().isoformat(), num_cores(), args.threads or "all", torch.get_num_threads(),
        " ".join("%.2f" % x for x in os.getloadavg())), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        engine_cfg = engine_yaml_with_threads(args.engine_config, args.threads, tmp)
        for n in args.num_envs:
            env = build_env(args.env_config, engine_cfg, n,
                            overrides={"motion_file": os.path.join(REPO_ROOT, "data", "motions", "humanoid",
                                                                   "humanoid_walk.pkl")})
            raw = RawRunner(env, args.threads)
            ppos, raws = [], []
            for _ in range(args.repeats):  # interleaved, medians
                ppos.append(bench_ppo(env, args.iters, args.agent_config))
                raws.append(time_runner(raw, args.min_time, None)[0])
            ppo, ceiling = statistics.median(ppos), statistics.median(raws)
            print("envs=%d ppo_samples_per_s=%.0f raw_steps_per_s=%.0f ratio=%.3f"
                  % (n, ppo, ceiling, ppo / ceiling), flush=True)
            raw.close()
            env.close()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m mimickit.bench", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="bench")
    eng = sub.add_parser("engine", help="env steps/s on the mujoco engine vs the raw MuJoCo ceiling")
    eng.add_argument("--num_envs", type=int, nargs="+", default=[1, 64, 512])
    eng.add_argument("--steps", type=int, default=None,
                     help="control steps per timed repeat (default: as many as fit in --min_time)")
    eng.add_argument("--threads", type=int, default=0, help="simulation threads (0: every core)")
    eng.add_argument("--torch_threads", type=int, default=1,
                     help="torch intra-op threads for the env's tensor work (0: torch's default; "
                          "1, as mimickit.run uses)")
    eng.add_argument("--min_time", type=float, default=2.0, help="seconds per timed repeat")
    eng.add_argument("--repeats", type=int, default=3)
    eng.add_argument("--warmup", type=float, default=0.5, help="seconds of warm-up per workload")
    eng.add_argument("--env_config", default=DEFAULT_ENV)
    eng.add_argument("--engine_config", default=DEFAULT_ENGINE)
    eng.add_argument("--profile", action="store_true",
                     help="also print a cProfile of the env at the largest env count")
    tr = sub.add_parser("train", help="PPO training samples/s (DeepMimic walk, CPU) vs the raw ceiling")
    tr.add_argument("--num_envs", type=int, nargs="+", default=[32])
    tr.add_argument("--iters", type=int, default=3, help="PPO iterations per timed repeat")
    tr.add_argument("--threads", type=int, default=0, help="simulation threads (0: every core)")
    tr.add_argument("--torch_threads", type=int, default=1)
    tr.add_argument("--min_time", type=float, default=2.0)
    tr.add_argument("--repeats", type=int, default=3)
    tr.add_argument("--env_config", default=os.path.join(REPO_ROOT, "data", "envs", "deepmimic_humanoid_env.yaml"))
    tr.add_argument("--engine_config", default=DEFAULT_ENGINE)
    tr.add_argument("--agent_config", default=os.path.join(REPO_ROOT, "data", "agents",
                                                           "deepmimic_humanoid_ppo_agent.yaml"))
    gpu = sub.add_parser("gpu", help="raw MuJoCo Warp, env and PPO throughput on the GPU engine")
    from mimickit.bench_gpu import add_args as add_gpu_args
    add_gpu_args(gpu)
    args = parser.parse_args(argv)
    if args.bench == "train":
        bench_train(args)
        return 0
    if args.bench == "gpu":
        from mimickit.bench_gpu import run as run_gpu
        run_gpu(args)
        return 0
    if args.bench != "engine":
        parser.print_help()
        return 2
    if any(n < 1 for n in args.num_envs) or args.repeats < 1 or (args.steps is not None and args.steps < 1):
        parser.error("--num_envs, --repeats and --steps must be positive")
    bench_engine(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
