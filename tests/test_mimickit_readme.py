"""MimicKit's own README, verbatim: each command line its users know runs here (bounded: stopped with
SIGTERM once it is clearly working), on the CPU engine where it names no engine."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import REPO_ROOT

# the command lines of MimicKit's README, as printed there
TRAIN_ISAAC = ("python mimickit/run.py --mode train --num_envs 4096 --engine_config data/engines/isaac_gym_engine.yaml "
               "--env_config data/envs/deepmimic_humanoid_env.yaml --agent_config data/agents/deepmimic_humanoid_ppo_agent.yaml "
               "--visualize true --out_dir output/")
TRAIN_ARGS = "python mimickit/run.py --arg_file args/deepmimic_humanoid_ppo_args.txt --visualize true"
TEST_MODEL = ("python mimickit/run.py --arg_file args/deepmimic_humanoid_ppo_args.txt --num_envs 4 --visualize true "
              "--mode test --model_file data/models/deepmimic_humanoid_spinkick_model.pt")
DISTRIBUTED = "python mimickit/run.py --arg_file args/deepmimic_humanoid_ppo_args.txt --devices cuda:0 cuda:1"
VIEW_MOTION = "python mimickit/run.py --mode test --arg_file args/view_motion_humanoid_args.txt --visualize true"


def _checkout(tmp_path):
    """A folder that looks like the repository (its code, args and data linked in), so that what the
    commands write under output/ lands in tmp_path, not in the checkout."""
    for name in ("mimickit", "args", "data"):
        link = tmp_path / name
        if not link.exists():
            link.symlink_to(REPO_ROOT / name)
    return str(tmp_path)


def _run_until(command, marker, tmp_path, timeout=300):
    """Start command (python: this interpreter) in a copy of the repository's layout; once marker appears
    in its output, SIGTERM it. -> (exit code, output)."""
    argv = command.split()
    argv[0] = sys.executable
    proc = subprocess.Popen(argv, cwd=_checkout(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    seen, deadline = [], time.time() + timeout
    try:
        for line in proc.stdout:
            seen.append(line)
            if marker in line or time.time() > deadline:
                break
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
        return proc.returncode, "".join(seen) + rest
    finally:
        if proc.poll() is None:
            proc.kill()


def test_train_with_the_arg_file_and_the_viewer(tmp_path):
    code, out = _run_until(TRAIN_ARGS, "iter 10 samples", tmp_path)  # its first log row: trained 10 iterations
    assert "meshcat viewer" in out and "iter 10 samples 20480" in out, out[-2000:]
    assert (tmp_path / "output" / "deepmimic_humanoid_ppo" / "model.pt").is_file()
    assert code == 128 + signal.SIGTERM and "Traceback" not in out


def test_play_the_spinkick_model_under_its_mimickit_name(tmp_path):
    assert os.path.realpath(str(REPO_ROOT / "data" / "models" / "deepmimic_humanoid_spinkick_model.pt")) == \
        os.path.realpath(str(REPO_ROOT / "data" / "models" / "deepmimic_humanoid_spinkick_ppo.pt"))
    code, out = _run_until(TEST_MODEL, "meshcat viewer", tmp_path)
    assert code == 128 + signal.SIGTERM and "Traceback" not in out and "error" not in out, out[-2000:]


def test_view_motion(tmp_path):
    code, out = _run_until(VIEW_MOTION, "meshcat viewer", tmp_path)
    assert code == 128 + signal.SIGTERM and "Traceback" not in out and "error" not in out, out[-2000:]


@pytest.mark.skipif(__import__("importlib").util.find_spec("isaacgym") is not None, reason="Isaac Gym is installed")
def test_the_isaac_gym_command_says_how_to_install_it(tmp_path):
    argv = TRAIN_ISAAC.split()
    argv[0] = sys.executable
    proc = subprocess.run(argv, cwd=_checkout(tmp_path), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "error: data/engines/isaac_gym_engine.yaml: engine_name isaac_gym needs the 'isaacgym' package, which is not "
        "installed: download NVIDIA Isaac Gym Preview 4 (https://developer.nvidia.com/isaac-gym), then pip install -e "
        "isaacgym/python in a Python 3.8 environment"]


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="MimicKit's distributed command names two GPUs")
def test_distributed_on_two_gpus(tmp_path):
    code, out = _run_until(DISTRIBUTED, "iter 10 samples", tmp_path, timeout=900)
    assert "iter 10 samples" in out and "Traceback" not in out, out[-2000:]
