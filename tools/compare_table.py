"""DeepMimic vs ADD at equal sample budgets (BENCHMARKS.md): evaluate the runs of args/compare on the CPU
engine and plot their learning curves.

    python tools/compare_table.py RUNS_DIR [--episodes 32] [--figure docs/deepmimic_vs_add_curves.png]

RUNS_DIR holds one folder per run, named as its arg file (deepmimic_walk, add_walk, ...), each with the
run's model_actor.pt and log.txt (what ``tools/gpu_train.sh collect`` brings back). Every actor plays
--episodes episodes of 10 s on the CPU engine (``run.py --mode test``: the tracking error over the
counted episodes' steps and the fraction of them that reach the time limit); the table gives both with
the samples and GPU minutes of each run (runs without an actor there: a dash). The figure plots each
run's in-training test tracking error against samples, from its log.txt there or, failing that, from
data/logs/compare/<run>_log.txt (the logs of the table in BENCHMARKS.md).
"""
import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from mimickit.learning.logger import read_log  # noqa: E402

CLIPS = ("walk", "run", "spinkick", "backflip", "cartwheel")
METHODS = (("deepmimic", "DeepMimic"), ("add", "ADD"))


def evaluate(actor, arg_file, episodes):
    """-> {tracking_error_m, full_episode_frac, mean_episode_length} of the actor on the CPU engine."""
    cmd = [sys.executable, os.path.join(ROOT, "mimickit", "run.py"), "--arg_file", arg_file, "--mode", "test",
           "--engine_config", os.path.join(ROOT, "data", "engines", "mujoco_engine.yaml"), "--devices", "cpu",
           "--num_envs", str(episodes), "--test_episodes", str(episodes), "--model_file", actor, "--seed", "0"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit("%s failed:\n%s" % (" ".join(cmd), out.stderr[-2000:]))
    summary = [line for line in out.stdout.splitlines() if line.startswith("mean_return=")][-1]
    return {k: float(v) for k, v in re.findall(r"(\w+)=([-\d.e+naif]+)", summary)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs_dir")
    p.add_argument("--episodes", type=int, default=32)
    p.add_argument("--figure", default=None, help="write the learning curves here (PNG)")
    args = p.parse_args(argv)
    rows, logs = [], {}
    for clip in CLIPS:
        row = [clip]
        for key, _ in METHODS:
            name = "%s_%s" % (key, clip)
            run = os.path.join(args.runs_dir, name)
            log_file = os.path.join(run, "log.txt")
            if not os.path.isfile(log_file):
                log_file = os.path.join(ROOT, "data", "logs", "compare", name + "_log.txt")
            log = logs[key, clip] = read_log(log_file) if os.path.isfile(log_file) else None
            actor = os.path.join(run, "model_actor.pt")
            if log is None or not os.path.isfile(actor):
                row += ["-"] * 4
                continue
            res = evaluate(actor, os.path.join(ROOT, "args", "compare", name + "_gpu_args.txt"), args.episodes)
            row += ["%.3f" % res["tracking_error_m"], "%.0f%%" % (100 * res["full_episode_frac"]),
                    "%.1f" % res["mean_episode_length"], "%.0fM / %.1f min" % (log["samples"][-1] / 1e6,
                                                                          log["wall_time"][-1] / 60)]
        rows.append(row)
        print(" | ".join(row), flush=True)
    head = ["clip"] + ["%s %s" % (name, col) for _, name in METHODS
                       for col in ("tracking error (m)", "full episodes", "episode length (s)", "samples / GPU time")]
    print("\n| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if args.figure:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, len(CLIPS), figsize=(3.2 * len(CLIPS), 3.0), sharey=True)
        for ax, clip in zip(axes, CLIPS):
            for key, name in METHODS:
                log = logs[key, clip]
                if log is None:
                    continue
                ax.plot([s / 1e6 for s in log["samples"]], log["tracking_error_m"], label=name)
            ax.set(title=clip, xlabel="samples (M)")
        axes[0].set_ylabel("tracking error (m)")
        axes[0].legend()
        fig.tight_layout()
        fig.savefig(args.figure, dpi=110)
        print("wrote", args.figure)


if __name__ == "__main__":
    main()
