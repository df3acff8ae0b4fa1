"""Learning curves from training logs (matplotlib): DeepMimic against ADD at equal budgets (BENCHMARKS.md,
``tools/compare_table.py``) and notebook 07 draw the same figure with it."""
import os

from mimickit.learning.logger import read_log

COMPARE_CLIPS = ("walk", "run", "spinkick", "backflip", "cartwheel")
COMPARE_METHODS = (("deepmimic", "DeepMimic"), ("add", "ADD, discount 0.95"))
# ADD with the authors' discount 0.99 (args/compare/add_authors_*): the runs that track; not every clip yet
ADD_DISCOUNT_099 = (("add_authors", "ADD, discount 0.99"),)


def compare_logs(logs_dir, runs_dir=None, methods=COMPARE_METHODS):
    """{(method key, clip): log or None} of the equal-budget runs: RUNS_DIR/<method>_<clip>/log.txt when
    runs_dir has it, else logs_dir/<method>_<clip>_log.txt (data/logs/compare keeps the table's logs)."""
    logs = {}
    for key, _ in methods:
        for clip in COMPARE_CLIPS:
            name = "%s_%s" % (key, clip)
            candidates = [os.path.join(logs_dir, name + "_log.txt")]
            if runs_dir is not None:
                candidates.insert(0, os.path.join(runs_dir, name, "log.txt"))
            found = [f for f in candidates if os.path.isfile(f)]
            logs[key, clip] = read_log(found[0]) if found else None
    return logs


def plot_compare_curves(logs, column="tracking_error_m", figsize=None, methods=COMPARE_METHODS):
    """logs {(method key, clip): log or None} -> a matplotlib Figure: one panel per clip, each method's
    in-training test `column` against samples (millions); a method without a log for a clip is left out
    of that panel."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=figsize or (3.2 * len(COMPARE_CLIPS), 3.0))
    axes = fig.subplots(1, len(COMPARE_CLIPS), sharey=True)
    for ax, clip in zip(axes, COMPARE_CLIPS):
        for key, label in methods:
            log = logs.get((key, clip))
            if log is not None:
                ax.plot([s / 1e6 for s in log["samples"]], log[column], label=label)
        ax.set(title=clip, xlabel="samples (M)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(column.replace("_m", " (m)").replace("_", " "))
    axes[0].legend()
    fig.tight_layout()
    return fig
