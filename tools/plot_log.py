"""Plot a training log (log.txt) with matplotlib.

    python tools/plot_log.py output/deepmimic_humanoid_ppo/log.txt [--out curves.png] [--x samples]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mimickit.learning.logger import read_log  # noqa: E402

DEFAULT_COLUMNS = ["test_return", "test_episode_length", "tracking_error_m", "train_return", "actor_loss",
                   "critic_loss"]


def plot(log_file, out=None, x="samples", columns=None):
    import matplotlib
    if out:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    data = read_log(log_file)
    if x not in data:
        raise SystemExit("%s: no column '%s'; columns are %s" % (log_file, x, ", ".join(data)))
    cols = [c for c in (columns or DEFAULT_COLUMNS) if c in data]
    fig, axes = plt.subplots(1, len(cols), figsize=(4 * len(cols), 3.2), squeeze=False)
    for ax, col in zip(axes[0], cols):
        ax.plot(data[x], data[col])
        ax.set_xlabel(x)
        ax.set_title(col)
        ax.grid(alpha=0.3)
    fig.suptitle(log_file)
    fig.tight_layout()
    if out:
        fig.savefig(out, dpi=100)
        print("wrote %s" % out)
    else:
        plt.show()
    return fig


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("log_file")
    p.add_argument("--out", default=None, help="save a PNG instead of showing a window")
    p.add_argument("--x", default="samples", help="x axis column: samples, iteration or wall_time")
    p.add_argument("--columns", nargs="+", default=None)
    args = p.parse_args(argv)
    plot(args.log_file, args.out, args.x, args.columns)


if __name__ == "__main__":
    main()
