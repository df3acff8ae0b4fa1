"""The steering task of AMP: commands (random and from code), their observation, the task reward, the
test metrics, and bounded CPU runs of both AMP configs from the command line."""
import math
import os
import re
import subprocess
import sys

import pytest
import torch

from mimickit.envs.env_builder import build_env
from mimickit.learning.logger import read_log
from mimickit.util import rotations as rot

from conftest import REPO_ROOT

ENV = os.path.join(REPO_ROOT, "data", "envs", "amp_steering_humanoid_env.yaml")
ENGINE = os.path.join(REPO_ROOT, "data", "engines", "mujoco_engine.yaml")


def steering(num_envs=4, **overrides):
    return build_env(ENV, ENGINE, num_envs, overrides=overrides)


def set_root_velocity(env, vel_xy):
    """Writes the current state back with the root's ground velocity replaced by vel_xy [N, 2]."""
    e = env.engine
    vel = e.get_root_vel().clone()
    vel[:, :2] = vel_xy
    env.set_char_state(env._all_ids(), e.get_root_pos().clone(), e.get_root_rot().clone(), vel,
                       e.get_root_ang_vel().clone(), e.get_dof_pos().clone(), e.get_dof_vel().clone())


def test_the_command_is_observed_in_the_heading_frame():
    torch.manual_seed(0)
    env = steering(3)
    env.reset()
    env.set_command(torch.tensor([0.0, 1.0, -2.5]), torch.tensor([1.0, 2.5, 4.0]))
    obs = env.get_obs()
    char_heading = rot.calc_heading(env.engine.get_root_rot())
    rel = torch.tensor([0.0, 1.0, -2.5]) - char_heading
    assert obs.shape[1] == env.obs_dim
    assert torch.allclose(obs[:, -3], torch.cos(rel), atol=1e-5) and torch.allclose(obs[:, -2], torch.sin(rel), atol=1e-5)
    assert torch.allclose(obs[:, -1], torch.tensor([1.0, 2.5, 4.0]))
    env.close()


def test_task_reward_and_metrics_of_a_known_velocity():
    env = steering(3)
    env.reset()
    env.set_command(0.0, 2.0)  # +x at 2 m/s
    set_root_velocity(env, torch.tensor([[2.0, 0.0], [1.0, 1.0], [-2.0, 0.0]]))
    reward = env._compute_reward()
    assert reward[0].item() == pytest.approx(1.0, abs=1e-5)  # exactly the commanded velocity
    assert reward[1].item() == pytest.approx(math.exp(-0.5 * 2.0), rel=1e-4)  # |(1, 1) - (2, 0)|^2 = 2
    assert reward[2].item() == pytest.approx(math.exp(-0.5 * 16.0), rel=1e-3)
    assert env._speed_err.tolist() == pytest.approx([0.0, 1.0, 4.0], abs=1e-4)  # along the command: 2, 1, -2
    assert env._dir_err.tolist() == pytest.approx([0.0, 45.0, 180.0], abs=0.05)
    env.close()


def test_random_commands_change_every_few_seconds_and_held_ones_stay():
    torch.manual_seed(1)
    env = steering(64, enable_early_termination=False, tar_change_time_min=1.0, tar_change_time_max=2.0)
    env.reset()
    heading, speed = env.get_command()
    assert speed.min() >= 1.0 and speed.max() <= 4.0
    assert heading.min() < -2.0 and heading.max() > 2.0  # over the whole circle
    changes = torch.zeros(64, dtype=torch.long)
    env.set_command(0.5, 3.0, env_ids=[0, 1])  # held: never replaced by a random one
    heading = env.get_command()[0]
    for _ in range(90):  # 3 s
        _, _, done, info = env.step(env.neutral_action())
        new_heading, _ = env.get_command()
        changes += ((new_heading != heading) & (done == 0)).long()
        heading = new_heading
    assert changes[2:].min() >= 1 and changes[2:].max() <= 3  # one every 1-2 s (plus resets)
    assert changes[:2].sum() == 0 and torch.allclose(env.get_command()[0][:2], torch.tensor([0.5, 0.5]))
    env.reset(torch.tensor([0]))
    assert env.get_command()[1][0].item() == pytest.approx(3.0)  # a reset keeps a held command
    env.release_command([0])
    env.step(env.neutral_action())
    assert env.get_command()[0][0].item() != pytest.approx(0.5)
    env.close()


def test_metrics_count_from_one_second_after_a_command_change():
    env = steering(2, enable_early_termination=False)
    env.reset()
    env.set_command(0.0, 1.0)
    valid = []
    for _ in range(40):
        _, _, _, info = env.step(env.neutral_action())
        assert set(info) >= {"task_speed_err_mps", "task_speed_err_mps_valid", "task_dir_err_deg"}
        valid.append(bool(info["task_dir_err_deg_valid"][0]))
    assert valid.index(True) == 29 and all(valid[29:])  # from step 30 (1.0 s) on
    env.close()


SUMMARY = re.compile(r"full_episode_frac=\S+(.*) episodes=(\d+)")


@pytest.mark.parametrize("name", ["amp_humanoid", "amp_steering_humanoid"])
def test_bounded_cpu_run_of_each_amp_config_logs_the_discriminator(tmp_path, name):
    run = [sys.executable, "mimickit/run.py", "--arg_file", "args/%s_args.txt" % name, "--num_envs", "4",
           "--out_dir", str(tmp_path), "--seed", "0"]
    proc = subprocess.run(run + ["--max_samples", "512"], cwd=str(REPO_ROOT), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    log = read_log(str(tmp_path / "log.txt"))
    for col in ("disc_loss", "disc_real_acc", "disc_fake_acc", "disc_real_d", "disc_fake_d", "disc_grad_penalty",
                "style_reward_mean", "task_reward_mean"):
        assert all(math.isfinite(v) for v in log[col]), col
    assert log["samples"][-1] == 512
    test = subprocess.run(run + ["--mode", "test", "--model_file", str(tmp_path / "model_actor.pt"),
                                 "--test_episodes", "2"], cwd=str(REPO_ROOT), capture_output=True, text=True,
                          timeout=600)
    assert test.returncode == 0, test.stderr[-2000:]
    metrics = SUMMARY.search(test.stdout).group(1).strip()
    if name == "amp_steering_humanoid":
        assert "task_speed_err_mps=" in metrics and "task_dir_err_deg=" in metrics
    else:
        assert metrics == ""  # no task, no discriminator in an actor-only model: nothing more to report
