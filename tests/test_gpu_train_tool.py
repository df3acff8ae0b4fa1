"""tools/gpu_train.sh, the device machine's training driver, run here on made-up runs: which actors `collect`
brings back, and that `stop` ends a started run. No GPU: `python3` is replaced by a stand-in where a run starts."""
import os
import subprocess
import sys
import tarfile
import time

from conftest import REPO_ROOT

SCRIPT = os.path.join(REPO_ROOT, "tools", "gpu_train.sh")


def gpu_train(mode, tmp_path, bin_dir, **env):
    full_env = dict(os.environ, PATH=str(bin_dir) + os.pathsep + os.environ["PATH"],
                    TRAIN_ROOT=str(tmp_path / "train"), **env)
    return subprocess.run(["bash", SCRIPT, mode], cwd=REPO_ROOT, env=full_env, capture_output=True, text=True,
                          timeout=120)


def python_bin(tmp_path):
    """A folder whose python3 is this interpreter (collect's selection imports mimickit's log reader)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(sys.executable, str(bin_dir / "python3"))
    return bin_dir


def running(pid):
    """pid is a live process (a zombie no parent has reaped yet counts as ended)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_collect_best_n_brings_back_the_actors_at_the_lowest_logged_values(tmp_path):
    run = tmp_path / "train" / "flip"
    (run / "int").mkdir(parents=True)
    rows = [(40, 0.13), (80, 0.11), (120, float("nan")), (160, 0.12), (200, 0.125), (240, 0.10)]
    with open(str(run / "log.txt"), "w") as f:
        f.write("iteration samples tracking_error_m\n")
        for it, err in rows:
            f.write("%d %d %g\n" % (it, it * 1000, err))
    for it, _ in rows[:-1]:  # the last row's actor was not kept
        (run / "int" / ("model_actor_%06d.pt" % it)).write_text("actor %d" % it)
    (run / "model_actor.pt").write_text("last actor")
    out = tmp_path / "out"
    out.mkdir()
    res = gpu_train("collect", tmp_path, python_bin(tmp_path), CLIPS="flip", OUT=str(out),
                    BEST="tracking_error_m", BEST_N="3")
    assert res.returncode == 0, res.stderr
    assert "best_actor.pt: iteration 80" in res.stdout
    parts = sorted(os.listdir(str(out)))
    assert parts == ["results.tar.part0"]
    with tarfile.open(str(out / parts[0])) as tar:
        got = {os.path.normpath(m.name): tar.extractfile(m).read().decode() for m in tar.getmembers() if m.isfile()}
    # the lowest three logged values with a kept actor: 0.11, 0.12, 0.125 (NaN and the unkept 0.10 skipped)
    assert got["flip/best_actor.pt"] == "actor 80"
    assert got["flip/best_actor_2.pt"] == "actor 160"
    assert got["flip/best_actor_3.pt"] == "actor 200"
    assert got["flip/model_actor.pt"] == "last actor"
    assert got["flip/log.txt"].startswith("iteration samples tracking_error_m")


def test_collect_names_a_missing_column(tmp_path):
    run = tmp_path / "train" / "walk"
    run.mkdir(parents=True)
    (run / "log.txt").write_text("iteration samples test_return\n40 40000 1.0\n")
    out = tmp_path / "out"
    out.mkdir()
    res = gpu_train("collect", tmp_path, python_bin(tmp_path), CLIPS="walk", OUT=str(out), BEST="tracking_error_m")
    assert "BEST=tracking_error_m: no such column" in res.stderr and "test_return" in res.stderr


def test_stop_ends_a_started_run_and_its_process_group(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stand_in = bin_dir / "python3"  # a run that would train for a minute
    stand_in.write_text("#!/bin/bash\nexec sleep 60\n")
    stand_in.chmod(0o755)
    res = gpu_train("start", tmp_path, bin_dir, CLIPS="walk")
    assert res.returncode == 0 and "started walk" in res.stdout, res.stderr
    pid = int((tmp_path / "train" / "walk.pid").read_text())
    time.sleep(0.5)
    assert running(pid)
    assert os.getpgid(pid) == pid  # its own process group
    res = gpu_train("stop", tmp_path, bin_dir, CLIPS="walk run")
    assert "stopped walk" in res.stdout and "run: not running" in res.stdout, res.stdout + res.stderr
    deadline = time.time() + 5.0
    while running(pid) and time.time() < deadline:
        time.sleep(0.1)
    assert not running(pid)
    assert not (tmp_path / "train" / "walk.pid").exists()


def test_unknown_mode_is_refused(tmp_path):
    res = gpu_train("colect", tmp_path, python_bin(tmp_path))
    assert res.returncode == 2 and "unknown mode 'colect'" in res.stderr
