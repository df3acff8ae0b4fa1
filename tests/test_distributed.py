"""Distributed training (mimickit/learning/distributed.py): several CPU worker processes train one model:
gradients averaged, normalizers merged exactly, parameters checked equal at every log row, one log; a
worker that dies ends the run with one line and leaves no process behind."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

from mimickit.learning.logger import read_log
from mimickit.run import UsageError, parse_args

from conftest import REPO_ROOT, child_pids, free_port, process_alive

AGENTS = {"ppo": ("deepmimic_humanoid_env.yaml", "deepmimic_humanoid_ppo_agent.yaml"),
          "amp": ("amp_humanoid_env.yaml", "amp_humanoid_agent.yaml")}


def tiny_agent(tmp_path, name, **extra):
    cfg = yaml.safe_load(open(str(REPO_ROOT / "data" / "agents" / AGENTS[name][1])))
    cfg["model"].update({k: "fc_1layers_32units" for k in cfg["model"] if k.endswith("_net")})
    cfg.update(steps_per_iter=8, iters_per_output=1, test_episodes=2, **extra)
    if "disc_buffer_size" in cfg:
        cfg.update(disc_buffer_size=64, disc_replay_samples=8)
    path = tmp_path / ("%s_agent.yaml" % name)
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def cli(tmp_path, name, *extra, max_samples=96):
    return [sys.executable, "mimickit/run.py", "--env_config", str(REPO_ROOT / "data" / "envs" / AGENTS[name][0]),
            "--agent_config", tiny_agent(tmp_path, name), "--num_envs", "2", "--out_dir", str(tmp_path / "out"),
            "--master_port", str(free_port()), "--seed", "0", "--max_samples", str(max_samples)] + list(extra)


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_two_cpu_workers_train_one_model(tmp_path, name):
    proc = subprocess.run(cli(tmp_path, name, "--devices", "cpu", "cpu"), cwd=str(REPO_ROOT), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = read_log(str(tmp_path / "out" / "log.txt"))
    # 2 workers x 2 envs x 8 steps per iteration; every row also checked both workers' parameters equal
    assert log["samples"] == [32.0, 64.0, 96.0] and log["iteration"] == [1.0, 2.0, 3.0]
    assert sorted(os.listdir(str(tmp_path / "out"))) == ["log.txt", "model.pt", "model_actor.pt"]
    # the checkpoint resumes on one worker (it is an ordinary checkpoint)
    resume = subprocess.run(cli(tmp_path, name, "--model_file", str(tmp_path / "out" / "model.pt"), max_samples=128),
                            cwd=str(REPO_ROOT), capture_output=True, text=True, timeout=600)
    assert resume.returncode == 0, resume.stderr[-3000:]
    assert read_log(str(tmp_path / "out" / "log.txt"))["samples"][-1] == 128.0


def _merge_worker(rank, port, results):
    import torch.distributed as dist

    from mimickit.learning import distributed
    from mimickit.learning.normalizer import Normalizer, ScaleNormalizer
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    data = [torch.randn(50 + 30 * r, 3, generator=torch.Generator().manual_seed(r)) * (1 + r) + r for r in range(2)]
    norm, scale = Normalizer(3), ScaleNormalizer(3)
    norm.update(data[rank])
    scale.update(data[rank])
    union = torch.cat(data)
    results.put((rank, float((norm.mean - union.mean(0)).abs().max()),
                 float((norm.var - union.var(0, unbiased=False)).abs().max()), float(norm.count),
                 float((scale.mean_abs - union.abs().mean(0)).abs().max())))
    net = torch.nn.Linear(3, 2)
    distributed.broadcast_modules([net])
    distributed.check_in_sync([net])  # equal after the broadcast
    if rank == 1:
        with torch.no_grad():
            net.bias[0] += 1e-3
    try:
        distributed.check_in_sync([net])
        results.put((rank, "in sync"))
    except RuntimeError as e:
        results.put((rank, str(e)))
    dist.destroy_process_group()


def _finish_worker(rank, port, results):
    import torch.distributed as dist

    from mimickit.learning import distributed
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    if rank == 1:
        time.sleep(1.0)  # the other worker reaches finish() first and waits there
    before = time.time()
    distributed.finish()
    results.put((rank, dist.is_initialized(), time.time() - before))


def test_finish_waits_for_every_worker_then_leaves_the_group():
    import torch.multiprocessing as mp
    ctx = mp.get_context("spawn")
    results = ctx.SimpleQueue()
    mp.start_processes(_finish_worker, args=(free_port(), results), nprocs=2, start_method="spawn")
    out = dict((r, (initialized, waited)) for r, initialized, waited in [results.get() for _ in range(2)])
    assert not out[0][0] and not out[1][0]  # both left the process group
    assert out[0][1] > 0.5  # rank 0 waited for rank 1 before leaving


def test_normalizers_merge_every_workers_batch_exactly_and_desync_is_caught():
    import torch.multiprocessing as mp
    ctx = mp.get_context("spawn")
    results = ctx.SimpleQueue()
    mp.start_processes(_merge_worker, args=(free_port(), results), nprocs=2, start_method="spawn")
    out = [results.get() for _ in range(4)]
    merges = [r for r in out if len(r) == 5]
    for rank, d_mean, d_var, count, d_scale in merges:
        assert d_mean < 1e-5 and d_var < 1e-4 and count == 130 and d_scale < 1e-5, (rank, d_mean, d_var, d_scale)
    syncs = [r[1] for r in out if len(r) == 2]
    assert len(syncs) == 2 and all("parameters differ (1 of 2 tensors)" in s for s in syncs), syncs


def test_a_killed_worker_ends_the_run_with_one_line_and_no_process_left(tmp_path):
    proc = subprocess.Popen(cli(tmp_path, "ppo", "--devices", "cpu", "cpu", max_samples=10 ** 9), cwd=str(REPO_ROOT),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and not os.path.exists(str(tmp_path / "out" / "log.txt")):
            time.sleep(0.2)
        assert os.path.exists(str(tmp_path / "out" / "log.txt")), "no checkpoint within 300 s"
        workers = [p for p in child_pids(proc.pid) if b"spawn_main" in open("/proc/%d/cmdline" % p, "rb").read()]
        assert len(workers) == 2, workers
        os.kill(max(workers), signal.SIGKILL)  # the later of the two
        assert proc.wait(timeout=120) == 1
        err = proc.stderr.read()
        lines = [x for x in err.splitlines() if x.startswith("error")]  # (the rest is rank 0's progress bar)
        assert len(lines) == 1 and "Traceback" not in err, err[-2000:]
        assert lines[0].startswith("error: worker") and lines[0].endswith("(cpu) was killed by SIGKILL"), lines
        assert not [p for p in workers if process_alive(p)], "a worker outlived the run"
    finally:
        if proc.poll() is None:
            proc.kill()
    state = torch.load(str(tmp_path / "out" / "model.pt"), map_location="cpu", weights_only=False)
    assert state["sample_count"] > 0 and "model" in state


def test_mimickit_worker_flags():
    env = str(REPO_ROOT / "data" / "envs" / "char_humanoid_env.yaml")
    assert parse_args(["--env_config", env, "--num_workers", "2", "--device", "cpu"])["devices"] == ["cpu", "cpu"]
    assert parse_args(["--env_config", env, "--devices", "cpu", "cpu"])["devices"] == ["cpu", "cpu"]
    assert parse_args(["--env_config", env, "--devices", "cuda:0,cuda:1"])["devices"] == ["cuda:0", "cuda:1"]
    assert parse_args(["--env_config", env])["devices"] == ["cpu"]
    have = torch.cuda.device_count()
    with pytest.raises(UsageError, match="--num_workers %d --device cuda: this machine has %d GPU" % (have + 1, have)):
        parse_args(["--env_config", env, "--num_workers", str(have + 1), "--device", "cuda"])
    with pytest.raises(UsageError, match="--num_workers 2 needs --device"):
        parse_args(["--env_config", env, "--num_workers", "2"])


def test_the_same_entry_point_under_torchrun(tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2", "--master_port",
           str(free_port()), "mimickit/run.py"] + cli(tmp_path, "ppo", "--devices", "cpu", max_samples=64)[2:]
    proc = subprocess.run(cmd, cwd=str(REPO_ROOT), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert read_log(str(tmp_path / "out" / "log.txt"))["samples"] == [32.0, 64.0]  # both ranks' samples
