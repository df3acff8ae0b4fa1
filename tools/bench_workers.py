"""Training samples/s with 1 and with several workers, side by side in one run (BENCHMARKS.md).

    python tools/bench_workers.py [--devices cpu "cpu cpu"] [--iters 30] [--repeats 2]
    python tools/bench_workers.py --arg_file args/deepmimic_humanoid_walk_ppo_gpu_args.txt --devices cuda:0 "cuda:0 cuda:1"

Each configuration trains with --arg_file (default DeepMimic walk on the CPU engine, its --num_envs per
worker; its agent config set to log every --iters / 3 iterations) for --iters iterations, the
configurations taking turns --repeats times; a run's rate is the samples between its first and last log
rows over the seconds between them (start-up and compilation excluded, the test episodes of each log row
included). Prints the median rate of each configuration and its ratio to the first.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from mimickit.learning.logger import read_log  # noqa: E402


def _configs(arg_file):
    """-> (the arg file's flags, its agent config as a dict)."""
    from mimickit.engines.engine import load_layered_config
    from mimickit.run import parse_args
    args = parse_args(["--arg_file", arg_file])
    return args, load_layered_config(os.path.join(ROOT, args["agent_config"]))


def _agent_config_logging_every(agent_cfg, every, out):
    """A copy of the agent config that logs (and runs its test episodes) every `every` iterations -> its
    path: a rate needs at least two log rows inside the measured iterations (the GPU configs log every 40
    or 50)."""
    import yaml
    path = os.path.join(out, "agent.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(dict(agent_cfg, iters_per_output=every), f, sort_keys=False)
    return path


def rate(arg_file, devices, iters, port):
    with tempfile.TemporaryDirectory() as out:
        args, agent_cfg = _configs(arg_file)
        agent = _agent_config_logging_every(agent_cfg, max(1, iters // 3), out)
        cmd = [sys.executable, os.path.join(ROOT, "mimickit", "run.py"), "--arg_file", arg_file, "--out_dir", out,
               "--agent_config", agent, "--seed", "0", "--master_port", str(port), "--devices"] + devices.split()
        # samples per iteration: num_envs (of the arg file) x steps_per_iter (of its agent config) x workers
        per_iter = args["num_envs"] * agent_cfg.get("steps_per_iter", 32) * len(devices.split())
        subprocess.run(cmd + ["--max_samples", str(iters * per_iter)], check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        log = read_log(os.path.join(out, "log.txt"))
        return (log["samples"][-1] - log["samples"][0]) / (log["wall_time"][-1] - log["wall_time"][0])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arg_file", default=os.path.join(ROOT, "args", "deepmimic_humanoid_ppo_args.txt"))
    p.add_argument("--devices", nargs="+", default=["cpu", "cpu cpu"], help="one configuration per argument")
    p.add_argument("--iters", type=int, default=30)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    rates = {d: [] for d in args.devices}
    for r in range(args.repeats):
        for k, d in enumerate(args.devices):
            rates[d].append(rate(args.arg_file, d, args.iters, 29700 + 10 * r + k))
            print("repeat %d, --devices %s: %.0f samples/s" % (r, d, rates[d][-1]), flush=True)
    base = statistics.median(rates[args.devices[0]])
    for d in args.devices:
        med = statistics.median(rates[d])
        print("--devices %-12s %8.0f samples/s  x%.2f" % (d, med, med / base))


if __name__ == "__main__":
    main()
