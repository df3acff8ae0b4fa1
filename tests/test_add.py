"""ADD: the differential observation, zero positives, a reward that falls as tracking gets worse, and a
bounded CPU run."""
import math
import os
import re

import pytest
import torch

from mimickit.engines.engine import ConfigError
from mimickit.envs.char_env import dof_vel_to_sim
from mimickit.envs.env_builder import build_env
from mimickit.learning.agent_builder import build_agent
from mimickit.learning.discriminator import rank_correlation
from mimickit.util import rotations as rot

from conftest import REPO_ROOT, bounded_cli_run
from test_amp import tiny_amp_config

ADD_ENV = os.path.join(REPO_ROOT, "data", "envs", "add_humanoid_env.yaml")
ENGINE = os.path.join(REPO_ROOT, "data", "engines", "mujoco_engine.yaml")
ADD_AGENT = os.path.join(REPO_ROOT, "data", "agents", "add_humanoid_agent.yaml")


def add_env(num_envs=2, **overrides):
    return build_env(ADD_ENV, ENGINE, num_envs, overrides=overrides)


def put_on_reference(env, root_shift=None, dof_shift=None):
    """Write the reference's current state into the simulator (optionally shifted) -> the reference frame."""
    ref = env.ref_frame()
    km = env.char_model
    dof = ref.dof.clone() if dof_shift is None else ref.dof + dof_shift
    dof_pos = km.dof_to_sim(dof)
    root_pos = ref.root_pos if root_shift is None else ref.root_pos + root_shift
    ids = torch.arange(env.num_envs)
    env.set_char_state(ids, root_pos, ref.root_rot, ref.root_vel, ref.root_ang_vel, dof_pos,
                       dof_vel_to_sim(km, dof_pos, ref.dof_vel))
    return ref


def test_differential_observation_matches_a_hand_computation():
    torch.manual_seed(0)
    env = add_env(2)
    env.reset()
    ref = put_on_reference(env)
    zero = env.get_disc_obs()
    assert zero.shape == (2, env.disc_obs_dim) and zero.abs().max() < 1e-3  # on the reference: no difference
    # moved 0.1 m along world x: only the ground offset changes, by the shift in the reference's heading frame
    put_on_reference(env, root_shift=torch.tensor([0.1, 0.0, 0.0]))
    moved = env.get_disc_obs()
    heading = rot.calc_heading(ref.root_rot)  # [N]
    expected = torch.stack([0.1 * torch.cos(heading), -0.1 * torch.sin(heading)], dim=-1)
    assert torch.allclose(moved[:, :2], expected, atol=1e-4)
    assert moved[:, 2:].abs().max() < 1e-3
    # one hinge DoF turned: the entries that change are that joint's rotation (tan-norm) and key bodies only
    km = env.char_model
    shift = torch.zeros(km.num_dofs)
    knee = next(j for j in km.movable_joints if j.name == "right_knee")
    shift[km.joint_dof_slice(knee)] = 0.3
    put_on_reference(env, dof_shift=shift)
    bent = env.get_disc_obs()
    joints = [j.name for j in km.movable_joints]
    start = 15 + 6 * joints.index("right_knee")  # root: 3 + 6 + 3 + 3, then 6 per joint
    changed = (bent.abs() > 1e-3).any(0).nonzero().flatten().tolist()
    keys_start = 15 + 6 * len(joints) + km.num_dofs
    assert set(changed) <= set(range(start, start + 6)) | set(range(keys_start, env.disc_obs_dim))
    # the knee's entries: tan-norm of its local rotation turned by 0.3 rad, minus the reference's
    before = rot.quat_to_tan_norm(km.dof_to_local_rot(ref.dof)[:, knee.body_id])
    after = rot.quat_to_tan_norm(km.dof_to_local_rot(ref.dof + shift)[:, knee.body_id])
    assert torch.allclose(bent[:, start:start + 6], after - before, atol=1e-3)
    assert (after - before).abs().max() > 0.1
    env.close()


def test_positives_are_the_zero_difference_and_d_learns_to_tell_them_from_the_policy(tmp_path):
    torch.manual_seed(1)
    env = add_env(4, enable_early_termination=False)
    assert torch.equal(env.sample_disc_obs_demo(5), torch.zeros(5, env.disc_obs_dim))
    with pytest.raises(ValueError, match="no clip times"):
        env.sample_disc_obs_demo(5, return_times=True)
    agent = build_agent(tiny_amp_config(tmp_path, source=ADD_AGENT, disc_optimizer={"type": "Adam", "learning_rate": 1e-3}),
                        env)
    obs, _ = env.reset()
    stats = []
    for _ in range(10):
        buf, obs = agent._rollout(obs, 8, _episodes())
        stats.append(agent._update(buf))
    assert stats[-1]["disc_real_d"] > stats[-1]["disc_fake_d"]
    assert stats[-1]["task_reward_mean"] == 0.0  # the env pays nothing itself
    env.close()


def _episodes():
    from mimickit.learning.base_agent import EpisodeStats
    return EpisodeStats("cpu")


def test_world_frame_differences_see_a_turn_that_heading_frame_features_do_not():
    """The whole character turned 0.4 rad about the vertical through its root (velocities turned with it):
    the heading-frame features see no difference, the world-frame one (disc_obs: global) does, in the root's
    rotation, velocities and every body's offset from the root."""
    turn = rot.axis_angle_to_quat(torch.tensor([[0.0, 0.0, 1.0]] * 2), torch.tensor([0.4, 0.4]))
    diffs = {}
    for kind in ("features", "global"):
        env = add_env(2, disc_obs=kind)
        env.reset()
        ref = put_on_reference(env)
        assert env.get_disc_obs().abs().max() < 1e-3  # on the reference: no difference
        km = env.char_model
        dof_pos = km.dof_to_sim(ref.dof)
        env.set_char_state(torch.arange(2), ref.root_pos, rot.quat_mul(turn, ref.root_rot),
                           rot.quat_rotate(turn, ref.root_vel), rot.quat_rotate(turn, ref.root_ang_vel), dof_pos,
                           dof_vel_to_sim(km, dof_pos, ref.dof_vel))
        diffs[kind] = env.get_disc_obs()
        if kind == "global":
            assert env.disc_obs_dim == 15 + 9 * (km.num_bodies - 1) + km.num_dofs
            body = 15 + 3 * (km.body_id("right_hand") - 1)  # the right hand's offset from the root
            hand = env.engine.get_body_pos()[:, km.body_id("right_hand")] - ref.root_pos
            expected = hand - rot.quat_rotate_inverse(turn, hand)  # simulated minus reference offset
            assert torch.allclose(diffs[kind][:, body:body + 3], expected, atol=1e-3)
        env.close()
    assert diffs["features"].abs().max() < 1e-3
    assert diffs["global"][:, 3:9].abs().max() > 0.1  # the root's rotation
    assert diffs["global"].abs().max() > 0.1


def test_error_vector_matches_a_hand_computation():
    env = add_env(2, disc_obs="errors")
    env.reset()
    km = env.char_model
    joints = [j.name for j in km.movable_joints]
    num_keys = len(env.config["key_bodies"])
    assert env.disc_obs_dim == 5 + len(joints) + km.num_dofs + num_keys
    put_on_reference(env)
    assert env.get_disc_obs().abs().max() < 1e-3  # on the reference: every error is zero
    # moved 0.1 m along x and 0.05 m up: ground distance, height and every key body's error, nothing else
    put_on_reference(env, root_shift=torch.tensor([0.1, 0.0, 0.05]))
    moved = env.get_disc_obs()
    assert torch.allclose(moved[:, 0], torch.full((2,), 0.1), atol=1e-4)
    assert torch.allclose(moved[:, 1], torch.full((2,), 0.05), atol=1e-4)
    assert torch.allclose(moved[:, -num_keys:], torch.full((2, num_keys), math.hypot(0.1, 0.05)), atol=1e-4)
    assert moved[:, 2:-num_keys].abs().max() < 1e-3
    # the right knee bent 0.3 rad more: its angle entry is 0.3, the right foot's position error grows
    shift = torch.zeros(km.num_dofs)
    knee = next(j for j in km.movable_joints if j.name == "right_knee")
    shift[km.joint_dof_slice(knee)] = 0.3
    put_on_reference(env, dof_shift=shift)
    bent = env.get_disc_obs()
    assert torch.allclose(bent[:, 5 + joints.index("right_knee")], torch.full((2,), 0.3), atol=1e-3)
    foot = env.config["key_bodies"].index("right_foot")
    assert (bent[:, -num_keys + foot] > 0.05).all()
    assert (bent >= 0).all()
    changed = set((bent.abs() > 1e-3).any(0).nonzero().flatten().tolist())
    assert changed == {5 + joints.index("right_knee"), env.disc_obs_dim - num_keys + foot}
    env.close()
    with pytest.raises(ConfigError, match="disc_obs is 'error'; expected one of features, global, errors"):
        add_env(1, disc_obs="error")


def test_add_reward_falls_as_the_tracking_error_grows_on_a_recorded_rollout(tmp_path):
    """Neutral actions (plus a little noise) from a reference start: the character drifts from the clip. A discriminator trained
    on that rollout's differences against zeros pays less the further the character is from the clip."""
    torch.manual_seed(2)
    env = add_env(4, enable_early_termination=False, pose_termination=False, rand_reset=False)
    env.reset()
    diffs, errors = [], []
    for _ in range(40):
        _, _, _, info = env.step(env.neutral_action() + 0.1 * torch.randn(4, env.act_dim))
        diffs.append(info["disc_obs"].clone())
        errors.append(info["tracking_error_m"].clone())
    diffs, errors = torch.stack(diffs), torch.stack(errors)  # [T, N, F], [T, N]
    assert errors[-5:].mean() > 2 * errors[:5].mean()  # the rollout does drift
    agent = build_agent(tiny_amp_config(tmp_path, source=ADD_AGENT, disc_buffer_size=1000), env)
    for _ in range(30):
        agent._disc_update(diffs.flatten(0, 1))
    reward = agent.style_reward(diffs.flatten(0, 1)).view_as(errors)
    spearman = rank_correlation(reward, errors)
    assert spearman < -0.5, spearman
    assert reward[:5].mean() > reward[-5:].mean()
    env.close()


def test_add_needs_its_env():
    amp_env = build_env(os.path.join(REPO_ROOT, "data", "envs", "amp_humanoid_env.yaml"), ENGINE, 2)
    with pytest.raises(ConfigError, match="ADD needs an env with differential observations"):
        build_agent(ADD_AGENT, amp_env)
    amp_env.close()


def test_bounded_cpu_run_logs_the_discriminator_and_tests_the_tracking_error(tmp_path):
    log, test_out = bounded_cli_run(tmp_path, "args/add_humanoid_args.txt")
    for col in ("disc_loss", "disc_real_d", "disc_fake_d", "disc_grad_penalty", "style_reward_mean",
                "tracking_error_m", "actor_loss", "critic_loss"):
        assert all(math.isfinite(v) for v in log[col]), col
    assert re.search(r"tracking_error_m=\d", test_out)


def test_scale_normalizer_keeps_zero_at_zero_and_merges_batches_exactly():
    from mimickit.learning.normalizer import ScaleNormalizer
    torch.manual_seed(5)
    a, b = torch.randn(100, 3) * torch.tensor([0.1, 1.0, 10.0]) + 2.0, torch.randn(60, 3)
    norm = ScaleNormalizer(3)
    norm.update(a)
    norm.update(b)
    union = torch.cat([a, b]).abs().mean(0)
    assert torch.allclose(norm.mean_abs, union, rtol=1e-5)
    assert torch.equal(norm.normalize(torch.zeros(4, 3)), torch.zeros(4, 3))  # no shift
    assert torch.allclose(norm.normalize(union.unsqueeze(0)), torch.ones(1, 3), rtol=1e-5)
    assert torch.allclose(norm.unnormalize(norm.normalize(a)), a, rtol=1e-5)
    copy = ScaleNormalizer(3, max_samples=100)
    copy.load_state_dict(norm.state_dict())
    assert torch.equal(copy.mean_abs, norm.mean_abs) and copy.frozen  # 160 samples seen > 100
    copy.update(torch.full((10, 3), 50.0))
    assert torch.equal(copy.mean_abs, norm.mean_abs)


def test_add_gradient_penalty_is_the_mean_over_zeros_and_policy_differences(tmp_path):
    """ADD's penalty (add_agent.py) covers the policy's differences too; AMP's covers the real samples only."""
    from mimickit.learning.discriminator import gradient_penalty
    torch.manual_seed(6)
    env = add_env(4, enable_early_termination=False)
    agent = build_agent(tiny_amp_config(tmp_path, source=ADD_AGENT, disc_bf16=False), env)
    assert agent.disc.obs_norm.__class__.__name__ == "ScaleNormalizer"
    fake, replay = torch.randn(8, env.disc_obs_dim), torch.randn(8, env.disc_obs_dim)
    agent.disc.obs_norm.update(torch.cat([fake, replay]))
    _, stats = agent._disc_loss({"real": torch.zeros(8, env.disc_obs_dim), "fake": fake, "replay": replay})
    x_real = torch.zeros(8, env.disc_obs_dim, requires_grad=True)  # zero normalizes to zero
    x_fake = agent.disc.obs_norm.normalize(torch.cat([fake, replay])).requires_grad_(True)
    expected = 0.5 * (gradient_penalty(agent.disc(x_real), x_real) + gradient_penalty(agent.disc(x_fake), x_fake))
    assert torch.allclose(stats["disc_grad_penalty"], expected, rtol=1e-4)
    assert not torch.allclose(expected, gradient_penalty(agent.disc(x_real), x_real), rtol=1e-2)
    env.close()


def test_equal_budget_curves_read_every_shipped_log_and_prefer_a_run_folder(tmp_path):
    """The equal-budget figure (BENCHMARKS.md, notebook 07): every cell's log in data/logs/compare, and a
    run folder's own log.txt first when one is given."""
    from mimickit.viz.curves import (ADD_DISCOUNT_099, COMPARE_CLIPS, COMPARE_METHODS, compare_logs,
                                     plot_compare_curves)
    logs = compare_logs(os.path.join(REPO_ROOT, "data", "logs", "compare"))
    assert set(logs) == {(k, c) for k, _ in COMPARE_METHODS for c in COMPARE_CLIPS}
    missing = [cell for cell, log in logs.items() if log is None]
    assert not missing, missing
    run = tmp_path / "add_walk"
    run.mkdir()
    (run / "log.txt").write_text("iteration samples tracking_error_m\n1 1000 0.5\n2 2000 0.25\n")
    mixed = compare_logs(os.path.join(REPO_ROOT, "data", "logs", "compare"), runs_dir=str(tmp_path))
    assert mixed["add", "walk"]["tracking_error_m"] == [0.5, 0.25]
    assert mixed["add", "run"]["samples"] == logs["add", "run"]["samples"]
    fig = plot_compare_curves(mixed)
    lines = fig.axes[0].get_lines()  # the walk panel: DeepMimic, then the run folder's ADD
    assert [line.get_label() for line in lines] == ["DeepMimic", "ADD, discount 0.95"]
    assert list(lines[1].get_ydata()) == [0.5, 0.25] and list(lines[1].get_xdata()) == [0.001, 0.002]
    # the discount-0.99 runs: drawn on the clips that have a log, left out of the others
    methods = COMPARE_METHODS + ADD_DISCOUNT_099
    with_099 = compare_logs(os.path.join(REPO_ROOT, "data", "logs", "compare"), methods=methods)
    have = [c for c in COMPARE_CLIPS if with_099["add_authors", c] is not None]
    assert {"walk", "spinkick", "backflip"} <= set(have)
    fig = plot_compare_curves(with_099, methods=methods)
    for ax, clip in zip(fig.axes, COMPARE_CLIPS):
        labels = [line.get_label() for line in ax.get_lines()]
        assert labels == ["DeepMimic", "ADD, discount 0.95"] + (["ADD, discount 0.99"] if clip in have else [])


def test_rank_correlation_compares_orders_not_values():
    """discriminator.rank_correlation (Spearman): a monotone but non-linear relation is +-1, shapes flatten."""
    err = torch.tensor([[0.01, 0.02], [0.05, 0.40]])
    assert rank_correlation(torch.exp(-10 * err), err) == pytest.approx(-1.0, abs=1e-6)
    assert rank_correlation(err ** 3, err.flatten()) == pytest.approx(1.0, abs=1e-6)
    assert abs(rank_correlation(torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([2.0, 4.0, 1.0, 3.0]))) < 0.5
