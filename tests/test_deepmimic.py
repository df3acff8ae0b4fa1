"""DeepMimic env and agents end to end: the tracking reward, RSI, termination, train/test/resume."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

from mimickit.envs.base_env import DoneFlags
from mimickit.envs.env_builder import build_env
from mimickit.learning.agent_builder import build_agent
from mimickit.learning.logger import read_log

from conftest import REPO_ROOT

ENV_CFG = os.path.join(REPO_ROOT, "data", "envs", "deepmimic_humanoid_env.yaml")
ENGINE_CFG = os.path.join(REPO_ROOT, "data", "engines", "mujoco_engine.yaml")
PPO_CFG = os.path.join(REPO_ROOT, "data", "agents", "deepmimic_humanoid_ppo_agent.yaml")


def make_env(num_envs=4, motion="walk", **overrides):
    overrides.setdefault("motion_file", os.path.join(REPO_ROOT, "data", "motions", "humanoid",
                                                     "humanoid_%s.pkl" % motion))
    return build_env(ENV_CFG, ENGINE_CFG, num_envs, overrides=overrides)


def tiny_agent_config(tmp_path, agent_name="PPO", **extra):
    with open(PPO_CFG) as f:
        cfg = yaml.safe_load(f)
    cfg["agent_name"] = agent_name
    if agent_name == "AWR":
        cfg.pop("ppo_clip_ratio")
        cfg.update(awr_temp=1.0, a_weight_clip=20.0)
    cfg["model"].update(actor_net="fc_1layers_32units", critic_net="fc_1layers_32units")
    cfg.update(steps_per_iter=8, iters_per_output=2, test_episodes=2)
    cfg.update(extra)
    path = tmp_path / ("%s_agent.yaml" % agent_name.lower())
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def train_tiny_agent(tmp_path, env, max_samples, agent_name="PPO", model_name="m.pt"):
    """A tiny agent trained for max_samples on env, checkpointing to tmp_path/model_name."""
    cfg = tiny_agent_config(tmp_path, agent_name)
    agent = build_agent(cfg, env)
    agent.train(max_samples=max_samples, out_model_file=str(tmp_path / model_name),
                log_file=str(tmp_path / "log.txt"), progress=False)
    return agent, cfg


@pytest.mark.parametrize("motion", ["walk", "spinkick"])
def test_reward_is_one_on_the_reference_and_falls_with_pose_error(motion):
    torch.manual_seed(1)
    env = make_env(6, motion)
    env.reset()  # RSI: every env starts in the reference state at a random time
    reward = env._compute_reward()
    assert torch.allclose(reward, torch.ones_like(reward), atol=1e-5), reward
    assert env._tracking_error.max() < 1e-4
    # bend the right shoulder further and further away from the reference
    ref_dof = env.engine.get_dof_pos().clone()
    col = env.char_model.sim_dof_names().index("right_shoulder_y")
    rewards = []
    for delta in (0.0, 0.2, 0.5, 1.0):
        dof = ref_dof.clone()
        dof[:, col] += delta
        e = env.engine
        env.set_char_state(env._all_ids(), e.get_root_pos().clone(), e.get_root_rot().clone(),
                           e.get_root_vel().clone(), e.get_root_ang_vel().clone(), dof, e.get_dof_vel().clone())
        rewards.append(env._compute_reward())
    for a, b in zip(rewards, rewards[1:]):
        assert torch.all(b < a)
    assert torch.all(env.reward_terms["pose"] < 1.0) and torch.all(env.reward_terms["root_pose"] > 0.999)
    env.close()


def test_rsi_samples_reference_states_and_future_targets_are_observed():
    torch.manual_seed(2)
    env = make_env(8)
    env.reset()
    t0 = env.motion_times()
    assert t0.std() > 0.05  # different start times
    frame = env.motion_lib.calc_motion_frame(env.get_motion_ids(), t0)
    assert torch.allclose(env.engine.get_root_pos(), frame.root_pos, atol=1e-5)
    assert env.obs_dim == env.get_obs().shape[1] == 167 + 3 * env.tar_obs_size
    env.close()


def test_pose_termination_and_tracking_error_in_info():
    torch.manual_seed(3)
    env = make_env(4, pose_termination_dist=0.05, enable_early_termination=False)
    env.reset()
    fails = 0
    for _ in range(15):  # torque-free limbs: holding a wrong pose drifts off the reference
        _, _, done, info = env.step(torch.full((4, env.act_dim), 0.9))
        assert info["tracking_error_m"].shape == (4,) and torch.all(info["tracking_error_m"] >= 0)
        fails += int((done == DoneFlags.FAIL).sum())
    assert fails > 0
    env.close()


def test_train_then_test_reports_tracking(tmp_path):
    torch.manual_seed(4)
    env = make_env(4)
    agent, _ = train_tiny_agent(tmp_path, env, 4 * 8 * 4)
    log = read_log(str(tmp_path / "log.txt"))
    assert log["iteration"] == [2.0, 4.0] and log["samples"] == [64.0, 128.0]
    for col in ("test_return", "test_episode_length", "tracking_error_m", "actor_loss", "critic_loss"):
        assert len(log[col]) == 2
    result = agent.test(3)
    assert result["episodes"] >= 3 and 0.0 <= result["full_episode_frac"] <= 1.0
    assert 0.0 <= result["tracking_error_m"] < 2.0
    env.close()


def test_awr_trains_and_logs_its_losses(tmp_path):
    torch.manual_seed(5)
    env = make_env(4)
    train_tiny_agent(tmp_path, env, 64, agent_name="AWR")
    log = read_log(str(tmp_path / "log.txt"))
    assert all(c in log for c in ("actor_loss", "critic_loss", "mean_weight"))
    env.close()


def test_checkpoint_restores_counters_normalizer_and_optimizer(tmp_path):
    torch.manual_seed(6)
    env = make_env(4)
    agent, cfg = train_tiny_agent(tmp_path, env, 64)
    fresh = build_agent(cfg, env)
    fresh.load(str(tmp_path / "m.pt"))
    assert (fresh.iteration, fresh.sample_count) == (agent.iteration, agent.sample_count) == (2, 64)
    assert torch.equal(fresh.model.obs_norm.mean, agent.model.obs_norm.mean)
    assert fresh.model.obs_norm.count.item() == agent.model.obs_norm.count.item() > 0
    for k, v in agent.actor_optimizer.state_dict()["state"].items():
        assert torch.equal(fresh.actor_optimizer.state_dict()["state"][k]["exp_avg"], v["exp_avg"])
    env.close()


def test_checkpoint_from_another_character_is_refused(tmp_path):
    env = make_env(2)
    agent = build_agent(tiny_agent_config(tmp_path), env)
    bad = tmp_path / "other.pt"
    state = {"model": {}, "obs_dim": 99, "act_dim": 7, "char_file": "robot.xml"}
    torch.save(state, str(bad))
    with pytest.raises(ValueError, match="other.pt.*obs_dim 99.*robot.xml"):
        agent.load(str(bad))
    env.close()


def test_killed_run_resumes_from_its_checkpoint(tmp_path):
    cfg = tiny_agent_config(tmp_path, iters_per_output=1)
    out = tmp_path / "run"
    cmd = [sys.executable, os.path.join(REPO_ROOT, "mimickit", "run.py"), "--mode", "train",
           "--env_config", ENV_CFG, "--agent_config", cfg, "--num_envs", "4", "--out_dir", str(out),
           "--seed", "0"]
    proc = subprocess.Popen(cmd + ["--max_samples", "100000"], cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    model = out / "model.pt"

    def logged_iterations():
        # the checkpoint is written before its log row (and the log file), and a row may be half written
        try:
            return len(read_log(str(out / "log.txt"))["iteration"])
        except (OSError, ValueError, KeyError, IndexError):
            return 0

    deadline = time.time() + 120
    try:
        while time.time() < deadline and not (model.exists() and logged_iterations() >= 3):
            time.sleep(0.2)
            assert proc.poll() is None, proc.stderr.read().decode()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    before = read_log(str(out / "log.txt"))["iteration"]
    killed_at = torch.load(str(model), weights_only=True)["iteration"]
    assert killed_at >= 3
    res = subprocess.run(cmd + ["--model_file", str(model), "--max_samples", str((killed_at + 2) * 32)],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    after = read_log(str(out / "log.txt"))["iteration"]
    # the resumed run continues the count where the checkpoint left it, in the same log
    assert after[:len(before)] == before and after[-1] == killed_at + 2 and after[len(before)] == killed_at + 1


def test_int_output_dir_keeps_the_actor_of_every_logged_iteration(tmp_path):
    cfg = tiny_agent_config(tmp_path, iters_per_output=1)
    out, kept = tmp_path / "run", tmp_path / "int"
    res = subprocess.run([sys.executable, os.path.join(REPO_ROOT, "mimickit", "run.py"), "--mode", "train",
                          "--env_config", ENV_CFG, "--agent_config", cfg, "--num_envs", "4", "--out_dir", str(out),
                          "--seed", "0", "--max_samples", str(3 * 4 * 8), "--int_output_dir", str(kept)],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    logged = [int(i) for i in read_log(str(out / "log.txt"))["iteration"]]
    assert logged == [1, 2, 3]
    assert sorted(os.listdir(str(kept))) == ["model_actor_%06d.pt" % i for i in logged]
    states = [torch.load(str(kept / ("model_actor_%06d.pt" % i)), weights_only=True) for i in logged]
    assert [s["iteration"] for s in states] == logged and all(s["actor_only"] for s in states)
    assert [s["sample_count"] for s in states] == [32, 64, 96]
    last = torch.load(str(out / "model_actor.pt"), weights_only=True)["model"]
    for name, value in last.items():  # the last one kept is the run's final actor
        assert torch.equal(states[-1]["model"][name], value), name
    first_differs = any(not torch.equal(states[0]["model"][k], v) for k, v in last.items())
    assert first_differs  # each file is its own iteration's actor, not the same one rewritten


def test_actor_only_checkpoint_plays_like_the_full_one(tmp_path):
    torch.manual_seed(7)
    env = make_env(3)
    agent, cfg = train_tiny_agent(tmp_path, env, 48)
    actor_file = tmp_path / "m_actor.pt"  # written beside every training checkpoint
    assert actor_file.exists() and actor_file.stat().st_size < (tmp_path / "m.pt").stat().st_size
    player = build_agent(cfg, env)
    player.load(str(actor_file), weights_only=True)
    obs = env.get_obs()
    a_full, _ = agent.model.act(obs, deterministic=True)
    a_half, _ = player.model.act(obs, deterministic=True)
    assert torch.allclose(a_full, a_half, atol=2e-2)  # fp16 weights
    with pytest.raises(ValueError, match="actor-only"):
        build_agent(cfg, env).load(str(actor_file))  # cannot resume training from it
    # but training can start from it (--init_model_file): the actor as exported, a fresh critic
    tuned = build_agent(cfg, env)
    tuned.load(str(actor_file), weights_only=True)
    assert tuned.iteration == 0
    obs, stats = tuned.train_iteration(env.reset()[0])
    assert tuned.iteration == 1 and stats["critic_loss"] > 0 and torch.isfinite(obs).all()
    env.close()


def test_training_from_weights_takes_a_fixed_action_std_from_its_config(tmp_path):
    """--init_model_file (start_from): a fixed std is a setting of the new run, so its config's replaces the
    checkpoint's; playing the checkpoint (load) keeps the checkpoint's, and a learned std carries over."""
    torch.manual_seed(3)
    env = make_env(2)
    _, cfg = train_tiny_agent(tmp_path, env, 32)
    saved_std = build_agent(cfg, env).model.log_std.exp()
    with open(cfg) as f:
        low = yaml.safe_load(f)
    low["model"]["action_std"] = 0.02
    low_cfg = tmp_path / "low_std_agent.yaml"
    low_cfg.write_text(yaml.safe_dump(low))
    tuned = build_agent(str(low_cfg), env)
    tuned.start_from(str(tmp_path / "m.pt"))
    assert torch.allclose(tuned.model.log_std.exp(), torch.full_like(saved_std, 0.02))
    player = build_agent(str(low_cfg), env)
    player.load(str(tmp_path / "m.pt"), weights_only=True)
    assert torch.allclose(player.model.log_std.exp(), saved_std) and not torch.allclose(saved_std, tuned.model.log_std.exp())
    low["model"]["learn_action_std"] = True
    low_cfg.write_text(yaml.safe_dump(low))
    learned = build_agent(str(low_cfg), env)
    learned.start_from(str(tmp_path / "m.pt"))
    assert torch.allclose(learned.model.log_std.exp(), saved_std)
    env.close()


def test_checkpoints_count_the_samples_behind_the_weights_a_run_started_from(tmp_path):
    """start_from keeps the checkpoint's samples (its own and its prior ones) as prior_samples; this run's
    sample_count starts at zero; full checkpoints, resumes and actor exports carry prior_samples along."""
    torch.manual_seed(4)
    env = make_env(2)
    first, cfg = train_tiny_agent(tmp_path, env, 32)
    tuned = build_agent(cfg, env)
    tuned.start_from(str(tmp_path / "m.pt"))
    assert (tuned.sample_count, tuned.prior_samples) == (0, first.sample_count) and first.sample_count >= 32
    tuned.train(max_samples=16, out_model_file=str(tmp_path / "tuned.pt"), log_file=str(tmp_path / "log2.txt"),
                progress=False)
    resumed = build_agent(cfg, env)
    resumed.load(str(tmp_path / "tuned.pt"))
    assert (resumed.sample_count, resumed.prior_samples) == (tuned.sample_count, first.sample_count)
    actor = torch.load(str(tmp_path / "tuned_actor.pt"), weights_only=True)
    assert (actor["sample_count"], actor["prior_samples"]) == (tuned.sample_count, first.sample_count)
    again = build_agent(cfg, env)  # a fine-tune of the fine-tune counts both runs before it
    again.start_from(str(tmp_path / "tuned_actor.pt"))
    assert again.prior_samples == first.sample_count + tuned.sample_count
    env.close()


def test_plot_log_draws_the_columns(tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location("plot_log", os.path.join(REPO_ROOT, "tools", "plot_log.py"))
    plot_log = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plot_log)
    log = tmp_path / "log.txt"
    log.write_text("iteration samples test_return test_episode_length\n1 100 1.5 0.5\n2 200 2.5 0.9\n")
    fig = plot_log.plot(str(log), out=str(tmp_path / "curves.png"))
    assert (tmp_path / "curves.png").stat().st_size > 1000
    assert [ax.get_title() for ax in fig.axes] == ["test_return", "test_episode_length"]
    assert list(fig.axes[0].lines[0].get_ydata()) == [1.5, 2.5]


def test_tracking_breakdown_of_the_shipped_walk_splits_its_error_into_drift_and_pose():
    """tools/tracking_probes.py breakdown on the shipped walk (run.player_from_arg_file: its GPU arg file played
    on the CPU engine): it tracks to a few centimetres, its root stays with the reference root and its pose
    with the clip's about its own root."""
    import importlib.util

    from mimickit.run import player_from_arg_file
    spec = importlib.util.spec_from_file_location("probes", os.path.join(REPO_ROOT, "tools", "tracking_probes.py"))
    probes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probes)
    torch.manual_seed(0)
    env, agent = player_from_arg_file(os.path.join(REPO_ROOT, "args", "deepmimic_humanoid_walk_ppo_gpu_args.txt"),
                                      os.path.join(REPO_ROOT, "data", "models", "deepmimic_humanoid_walk_ppo.pt"), 4,
                                      engine_config=os.path.join(REPO_ROOT, "data", "engines", "mujoco_engine.yaml"),
                                      rand_reset=False)
    assert env.engine.device.type == "cpu" and env.num_envs == 4
    m = probes.breakdown(env, agent, 30)
    env.close()
    assert 0.0 < m["tracking"] < 0.05 and m["drift"] < 0.05 and m["about_root"] < 0.03 and m["heading"] < 0.1
