"""Training logs: a text table (log.txt, one row per output step), TensorBoard, or wandb."""
import os
import time


class Logger:
    """Collects scalars for one output step, then writes them as one row."""

    def __init__(self, log_file, kind="txt", run_name=None):
        self.kind = kind
        self.log_file = log_file
        self.row = {}
        self.columns = None
        self.start_time = time.time()
        os.makedirs(os.path.dirname(os.path.abspath(log_file)) or ".", exist_ok=True)
        self._tb = self._wandb = None
        if kind == "tb":
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as e:
                raise RuntimeError("--logger tb needs tensorboard: pip install tensorboard") from e
            self._tb = SummaryWriter(os.path.join(os.path.dirname(os.path.abspath(log_file)), "tb"))
        elif kind == "wandb":
            try:
                import wandb
            except ImportError as e:
                raise RuntimeError("--logger wandb needs wandb: pip install wandb") from e
            self._wandb = wandb.init(project="mimickit", name=run_name)
        elif kind != "txt":
            raise ValueError("unknown logger '%s'; expected txt, tb or wandb" % kind)

    def log(self, key, value):
        self.row[key] = float(value)

    def write(self, step):
        """Append the collected row to log.txt (and tb/wandb); returns it."""
        row = dict(self.row)
        if self.columns is None:
            self.columns = list(row)
            if not os.path.exists(self.log_file) or os.path.getsize(self.log_file) == 0:
                with open(self.log_file, "a") as f:
                    f.write(" ".join(self.columns) + "\n")
        with open(self.log_file, "a") as f:
            f.write(" ".join("%.6g" % row.get(k, float("nan")) for k in self.columns) + "\n")
        if self._tb is not None:
            for k, v in row.items():
                self._tb.add_scalar(k, v, step)
            self._tb.flush()
        if self._wandb is not None:
            self._wandb.log(row, step=step)
        self.row = {}
        return row

    def close(self):
        if self._tb is not None:
            self._tb.close()
        if self._wandb is not None:
            self._wandb.finish()


def read_log(path):
    """log.txt -> {column: [values]} (for plotting and tests)."""
    with open(path) as f:
        lines = [l.split() for l in f if l.strip()]
    cols = lines[0]
    data = {c: [] for c in cols}
    for row in lines[1:]:
        if row == cols:  # a resumed run repeats the header
            continue
        for c, v in zip(cols, row):
            data[c].append(float(v))
    return data
