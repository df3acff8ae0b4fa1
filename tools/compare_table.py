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

from mimickit.viz.curves import ADD_DISCOUNT_099, COMPARE_CLIPS as CLIPS, COMPARE_METHODS  # noqa: E402
from mimickit.viz.curves import compare_logs, plot_compare_curves  # noqa: E402

METHODS = COMPARE_METHODS + ADD_DISCOUNT_099  # a run that is not there yet gets dashes


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
    rows = []
    logs = compare_logs(os.path.join(ROOT, "data", "logs", "compare"), runs_dir=args.runs_dir, methods=METHODS)
    for clip in CLIPS:
        row = [clip]
        for key, _ in METHODS:
            name = "%s_%s" % (key, clip)
            run = os.path.join(args.runs_dir, name)
            log = logs[key, clip]
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
        plot_compare_curves(logs, methods=METHODS).savefig(args.figure, dpi=110)
        print("wrote", args.figure)


if __name__ == "__main__":
    main()
