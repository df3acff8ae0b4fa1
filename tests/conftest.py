import pathlib
import sys

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # `import mimickit` without installing the package


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now (for servers and workers a test starts)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stat_fields(pid):
    """The fields of /proc/<pid>/stat after the command name (its state, then its parent's pid, ...), or None
    when there is no such process."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_alive(pid):
    """Whether process pid runs (a zombie, exited and awaiting its reaping, does not)."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def child_pids(pid):
    """The running (not zombie) processes whose parent is pid."""
    import os
    kids = []
    for entry in os.listdir("/proc"):
        fields = _stat_fields(int(entry)) if entry.isdigit() else None
        if fields is not None and fields[0] != "Z" and int(fields[1]) == pid:
            kids.append(int(entry))
    return kids


@pytest.fixture(scope="session")
def humanoid_xml():
    return str(REPO_ROOT / "data" / "assets" / "humanoid" / "humanoid.xml")


def bounded_cli_run(tmp_path, arg_file, max_samples=512, test_args=()):
    """Train with `python mimickit/run.py --arg_file arg_file` on 4 envs up to max_samples, then test the
    actor it saved -> (the training log as {column: [values]}, the test run's stdout). Fails on an error."""
    import subprocess

    from mimickit.learning.logger import read_log
    run = [sys.executable, "mimickit/run.py", "--arg_file", arg_file, "--num_envs", "4", "--out_dir", str(tmp_path),
           "--seed", "0"]
    proc = subprocess.run(run + ["--max_samples", str(max_samples)], cwd=str(REPO_ROOT), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    log = read_log(str(tmp_path / "log.txt"))
    assert log["samples"][-1] == max_samples
    test = subprocess.run(run + ["--mode", "test", "--model_file", str(tmp_path / "model_actor.pt"),
                                 "--test_episodes", "2"] + list(test_args), cwd=str(REPO_ROOT), capture_output=True,
                          text=True, timeout=600)
    assert test.returncode == 0, test.stderr[-2000:]
    return log, test.stdout


def decode_commands(html):
    """meshcat's static HTML replays msgpack commands embedded as base64 data URLs -> the commands (dicts)."""
    import base64
    import re

    import umsgpack
    blobs = re.findall(r"data:application/octet-binary;base64,([A-Za-z0-9+/=]+)", html)
    return [umsgpack.unpackb(base64.b64decode(b)) for b in blobs]
