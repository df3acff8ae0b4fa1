"""AMP: the discriminator's math, its replay buffer, the env's discriminator observations (simulated
and from the dataset) and the agent end to end."""
import math
import os

import pytest
import torch
import yaml
from torch import nn

from mimickit.engines.engine import ConfigError
from mimickit.envs.amp_env import compute_disc_obs, disc_frame
from mimickit.envs.env_builder import build_env
from mimickit.learning import discriminator as D
from mimickit.learning.agent_builder import build_agent
from mimickit.learning.base_agent import CheckpointError, EpisodeStats
from mimickit.learning.replay_buffer import ReplayBuffer
from mimickit.util import rotations as rot

from conftest import REPO_ROOT

AMP_ENV = os.path.join(REPO_ROOT, "data", "envs", "amp_humanoid_env.yaml")
ENGINE = os.path.join(REPO_ROOT, "data", "engines", "mujoco_engine.yaml")
AMP_AGENT = os.path.join(REPO_ROOT, "data", "agents", "amp_humanoid_agent.yaml")
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")


# ---------------------------------------------------------------- objectives
def test_logistic_loss_and_reward_match_hand_computed_values():
    d_real, d_fake = torch.tensor([0.0, 2.0]), torch.tensor([-1.0, 3.0])
    sig = lambda x: 1.0 / (1.0 + math.exp(-x))
    real = (-math.log(sig(0.0)) - math.log(sig(2.0))) / 2
    fake = (-math.log(1 - sig(-1.0)) - math.log(1 - sig(3.0))) / 2
    assert D.disc_loss("logistic", d_real, d_fake).item() == pytest.approx(0.5 * (real + fake), rel=1e-6)
    # r = -log(max(1 - D, 1e-4)): log 2 at D = 1/2; capped where D is within 1e-4 of 1
    r = D.style_reward("logistic", torch.tensor([0.0, 2.0, -3.0, 20.0]))
    expected = [math.log(2.0), -math.log(1 - sig(2.0)), -math.log(1 - sig(-3.0)), -math.log(1e-4)]
    assert r.tolist() == pytest.approx(expected, rel=1e-5)
    # huge logits stay finite in the loss (softplus, not log of a rounded sigmoid)
    assert torch.isfinite(D.disc_loss("logistic", torch.tensor([-200.0]), torch.tensor([200.0])))


def test_least_squares_loss_and_reward_match_hand_computed_values():
    d_real, d_fake = torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 1.0])
    # real: (1-1)^2, (0-1)^2 -> mean 0.5; fake: (-1+1)^2, (1+1)^2 -> mean 2
    assert D.disc_loss("least_squares", d_real, d_fake).item() == pytest.approx(0.5 * (0.5 + 2.0))
    r = D.style_reward("least_squares", torch.tensor([1.0, 0.0, -1.0, -3.0, 2.0]))
    assert r.tolist() == pytest.approx([1.0, 0.75, 0.0, 0.0, 0.75])  # max(0, 1 - (d - 1)^2 / 4)


def test_accuracy_and_reported_d():
    acc_real, acc_fake = D.disc_accuracy(torch.tensor([1.0, -1.0, 2.0, 0.5]), torch.tensor([-2.0, 0.1]))
    assert acc_real.item() == pytest.approx(0.75) and acc_fake.item() == pytest.approx(0.5)
    assert D.disc_prob("logistic", torch.tensor([0.0])).item() == pytest.approx(0.5)
    assert D.disc_prob("least_squares", torch.tensor([0.3])).item() == pytest.approx(0.3)


def test_gradient_penalty_matches_autograd_per_sample_and_is_differentiable():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 1))
    x = torch.randn(6, 5, requires_grad=True)
    d = net(x).squeeze(-1)
    penalty = D.gradient_penalty(d, x)
    per_sample = []
    for i in range(6):  # one sample at a time, straight from torch.autograd.grad
        xi = x[i:i + 1].detach().requires_grad_(True)
        g, = torch.autograd.grad(net(xi).sum(), xi)
        per_sample.append(g.pow(2).sum())
    assert penalty.item() == pytest.approx(torch.stack(per_sample).mean().item(), rel=1e-5)
    # a linear D has gradient w everywhere: the penalty is |w|^2 exactly
    lin = nn.Linear(5, 1)
    assert D.gradient_penalty(lin(x).squeeze(-1), x).item() == pytest.approx(lin.weight.pow(2).sum().item(), rel=1e-5)
    # the penalty itself trains the weights (create_graph): its gradient is not zero
    penalty.backward()
    assert net[0].weight.grad.abs().sum() > 0


def test_unknown_objective_is_a_config_error():
    from mimickit.engines.engine import ConfigError
    with pytest.raises(ConfigError, match="disc_objective 'wasserstein'.*logistic, least_squares"):
        D.check_objective("wasserstein", "agent.yaml")


# ---------------------------------------------------------------- replay buffer
def test_replay_buffer_keeps_the_newest_rows_and_samples_only_written_ones():
    buf = ReplayBuffer(5, 2)
    with pytest.raises(ValueError, match="empty"):
        buf.sample(1)
    buf.push(torch.tensor([[0.0, 0.0], [1.0, 1.0]]))
    assert len(buf) == 2 and not buf.full
    assert set(buf.sample(200)[:, 0].tolist()) == {0.0, 1.0}  # never the unwritten zero rows beyond
    buf.push(torch.arange(2.0, 6.0).unsqueeze(-1).repeat(1, 2))  # 2..5: 6 rows into 5, row 0 overwritten
    assert buf.full and len(buf) == 5
    assert set(buf.sample(500)[:, 0].tolist()) == {1.0, 2.0, 3.0, 4.0, 5.0}
    buf.push(torch.arange(10.0, 17.0).unsqueeze(-1).repeat(1, 2))  # more than the capacity: the last 5 stay
    assert sorted(buf.data[:, 0].tolist()) == [12.0, 13.0, 14.0, 15.0, 16.0]
    counts = torch.bincount(buf.sample(20000)[:, 0].long() - 12, minlength=5).float()
    assert (counts / 20000 - 0.2).abs().max() < 0.02  # uniform


# ---------------------------------------------------------------- discriminator observations
def amp_env(num_envs=4, **overrides):
    return build_env(AMP_ENV, ENGINE, num_envs, overrides=overrides)


def test_dataset_windows_are_consecutive_frames_of_the_clip():
    torch.manual_seed(0)
    env = amp_env(2, motion_file=os.path.join(REPO_ROOT, "data", "datasets", "dataset_humanoid_locomotion.yaml"))
    S = env.num_disc_obs_steps
    obs, ids, times = env.sample_disc_obs_demo(64, return_times=True)
    assert obs.shape == (64, env.disc_obs_dim) and times.shape == (64, S)
    assert torch.allclose(times.diff(dim=1), torch.full((64, S - 1), env.dt), atol=1e-5)  # one control step apart
    assert set(ids.tolist()) == {0, 1}  # both clips, drawn by weight
    # the same windows built from the motion library at those times, frame by frame
    ml, km = env.motion_lib, env.char_model
    fr = ml.calc_motion_frame(ids.unsqueeze(-1).expand(-1, S), times)
    joints = [j.body_id for j in km.movable_joints]
    rows = disc_frame(fr.root_pos, fr.root_rot, fr.root_vel, fr.root_ang_vel, fr.joint_rot[:, :, joints],
                      fr.dof_vel, fr.body_pos[:, :, env.key_body_ids.tolist()])
    assert torch.allclose(obs, compute_disc_obs(rows, len(joints), km.num_dofs, len(env.key_body_ids)), atol=1e-5)
    assert torch.allclose(obs, env.disc_obs_from_frames(fr), atol=1e-5)  # the public way to the same windows
    # and read back: per state, the root height is at column 2 and the newest state's root sits at x = y = 0
    per_state = obs.view(64, S, -1)
    assert torch.allclose(per_state[:, :, 2], fr.root_pos[..., 2], atol=1e-5)
    assert per_state[:, -1, :2].abs().max() < 1e-5
    env.close()


def test_disc_obs_ignore_where_the_character_is_and_which_way_it_faces():
    torch.manual_seed(1)
    env = amp_env(2)
    _, ids, times = env.sample_disc_obs_demo(8, return_times=True)
    fr = env.motion_lib.calc_motion_frame(ids.unsqueeze(-1), times.flip(1), with_body=False)
    window = env._ref_disc_frames(fr)
    yaw = rot.axis_angle_to_quat(torch.tensor([0.0, 0.0, 1.0]), torch.tensor(2.1))
    moved = window.clone()
    moved[..., 0:3] = rot.quat_rotate(yaw, window[..., 0:3]) + torch.tensor([3.0, -1.0, 0.0])
    moved[..., 3:7] = rot.quat_mul(yaw, window[..., 3:7])
    moved[..., 7:10] = rot.quat_rotate(yaw, window[..., 7:10])
    moved[..., 10:13] = rot.quat_rotate(yaw, window[..., 10:13])
    nk = len(env.key_body_ids)
    keys = moved[..., -3 * nk:].unflatten(-1, (nk, 3))
    moved[..., -3 * nk:] = rot.quat_rotate(yaw, keys).flatten(-2)
    layout = env._layout
    assert torch.allclose(compute_disc_obs(window, *layout), compute_disc_obs(moved, *layout), atol=1e-4)
    env.close()


def test_a_reset_fills_the_window_with_the_reference_and_the_simulated_state_reads_the_same():
    torch.manual_seed(2)
    env = amp_env(4)
    env.reset()
    S, t0 = env.num_disc_obs_steps, env.motion_times()
    # the window right after a reset: the clip's frames up to the start
    ref = env.motion_lib.calc_motion_frame(env.get_motion_ids().unsqueeze(-1),
                                           t0.unsqueeze(-1) - env.dt * torch.arange(S - 1, -1, -1.0),
                                           with_body=False)
    assert torch.allclose(env._window, env._ref_disc_frames(ref.__class__(*[
        None if x is None else x.flip(1) for x in ref])), atol=1e-5)
    # the simulator was put in the start state: reading it gives the window's newest row
    sim_row, ref_row = env._sim_disc_frame(), env._window[:, -1]
    nd = env.char_model.num_dofs
    vel_cols = slice(13 + 6 * len(env._joint_body_ids), 13 + 6 * len(env._joint_body_ids) + nd)
    pose = torch.ones(sim_row.shape[1], dtype=torch.bool)
    pose[vel_cols] = False
    assert torch.allclose(sim_row[:, pose], ref_row[:, pose], atol=1e-4)
    # joint velocities make a round trip through the hinge rates (least squares near gimbal lock)
    assert (sim_row[:, vel_cols] - ref_row[:, vel_cols]).abs().max() < 0.05
    # a step pushes the new state into the window and reports the window it reached
    before = env._window.clone()
    _, _, done, info = env.step(env.neutral_action())
    assert not done.any()
    assert torch.equal(env._window[:, :-1], before[:, 1:])
    assert torch.allclose(env._window[:, -1], env._sim_disc_frame())
    assert torch.allclose(info["disc_obs"], env.get_disc_obs(), atol=1e-6)
    env.close()


@pytest.mark.parametrize("masked", [False, True])
def test_hybrid_initialization_starts_episodes_standing_at_rest_with_a_standing_window(masked):
    """init_pose_prob (ASE's hybrid initialization): that share of new episodes starts in the initial pose at
    rest, its window the standing state repeated (as the simulator sees it), at reset() and when episodes end,
    in both stepping modes; the rest start from dataset frames."""
    torch.manual_seed(5)
    env = amp_env(8, init_pose_prob=1.0, episode_length=3 * 1 / 30.0)
    env.masked_step, env.compile_step = masked, False
    init_pos = env._initial_state(8)[0]

    def assert_standing(ids):
        assert torch.allclose(env.engine.get_root_pos()[ids], init_pos[ids], atol=1e-6)
        assert env.engine.get_root_vel()[ids].abs().max() == 0 and env.engine.get_dof_vel()[ids].abs().max() == 0
        assert torch.allclose(env._window[ids], env._sim_disc_frame()[ids].unsqueeze(1).expand_as(env._window[ids]),
                              atol=1e-5)

    env.reset()
    assert_standing(torch.arange(8))
    for _ in range(3):  # the third step reaches the time limit: every env resets there
        _, _, done, _ = env.step(env.neutral_action())
    assert (done != 0).all()
    assert_standing(torch.arange(8))
    env.close()
    half = amp_env(400, init_pose_prob=0.5)
    half.reset()
    at_rest = (half.engine.get_root_pos() - half._initial_state(400)[0]).norm(dim=-1) < 1e-6
    assert 0.4 < at_rest.float().mean() < 0.6
    half.close()


def test_init_pose_prob_must_be_a_probability():
    with pytest.raises(ConfigError, match="init_pose_prob is 1.5; expected a probability"):
        amp_env(1, init_pose_prob=1.5)


def test_masked_stepping_gives_the_same_disc_obs_as_stepping_by_ids():
    torch.manual_seed(3)
    actions = None
    out = []
    for masked in (False, True):
        env = amp_env(6, rand_reset=False)  # starts at time 0: the resets draw nothing random
        env.masked_step, env.compile_step = masked, False
        env.reset()
        if actions is None:
            actions = [env.neutral_action() + 0.6 * torch.randn(6, env.act_dim) for _ in range(30)]
        run = []
        for a in actions:
            obs, _, done, info = env.step(a)
            run.append((info["disc_obs"].clone(), obs.clone(), done.clone()))
        out.append(run)
        env.close()
    resets = 0
    for t, ((d0, o0, f0), (d1, o1, f1)) in enumerate(zip(*out)):
        assert torch.equal(f0, f1), t
        assert torch.allclose(d0, d1, atol=1e-3) and torch.allclose(o0, o1, atol=1e-3), t
        resets += int((f0 != 0).sum())
    assert resets > 0  # the windows refilled at resets were compared too


# ---------------------------------------------------------------- the agent
def tiny_amp_config(tmp_path, source=AMP_AGENT, **extra):
    cfg = yaml.safe_load(open(source))
    cfg["model"].update(actor_net="fc_1layers_32units", critic_net="fc_1layers_32units", disc_net="fc_1layers_32units")
    if "enc_net" in cfg["model"]:  # ASE's encoder
        cfg["model"]["enc_net"] = "fc_1layers_32units"
    cfg.update(steps_per_iter=8, iters_per_output=2, test_episodes=2, disc_buffer_size=64, disc_replay_samples=8)
    cfg.update(extra)
    path = tmp_path / "amp_agent.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_agent_rewards_are_the_weighted_sum_and_the_discriminator_learns(tmp_path):
    torch.manual_seed(4)
    env = amp_env(4)
    agent = build_agent(tiny_amp_config(tmp_path, task_reward_weight=0.3, disc_reward_weight=0.7), env)
    obs, _ = env.reset()
    buf, _ = agent._rollout(obs, 8, EpisodeStats("cpu"))
    style = agent.style_reward(buf.flat("disc_obs")).view(8, 4)
    assert torch.allclose(buf["style_reward"], style) and torch.allclose(buf["task_reward"], torch.zeros(8, 4))
    assert torch.allclose(buf["reward"], 0.3 * buf["task_reward"] + 0.7 * style)
    # D trained on the dataset against a policy that falls: it tells them apart, and its reward follows
    stats = [agent._update(agent._rollout(env.reset()[0], 8, EpisodeStats("cpu"))[0]) for _ in range(6)]
    for key in ("disc_loss", "disc_grad_penalty", "disc_real_acc", "disc_fake_acc", "disc_real_d", "disc_fake_d",
                "task_reward_mean", "style_reward_mean", "actor_loss", "critic_loss"):
        assert key in stats[-1] and math.isfinite(stats[-1][key]), key
    assert stats[-1]["disc_loss"] < stats[0]["disc_loss"]
    assert stats[-1]["disc_real_d"] > stats[-1]["disc_fake_d"]
    real = agent.style_reward(env.sample_disc_obs_demo(256)).mean()
    fake = agent.style_reward(buf.flat("disc_obs")).mean()
    assert real > fake
    env.close()


@pytest.mark.parametrize("objective", ["logistic", "least_squares"])
def test_train_save_resume_and_play_the_actor(tmp_path, objective):
    torch.manual_seed(5)
    env = amp_env(4)
    cfg = tiny_amp_config(tmp_path, disc_objective=objective)
    agent = build_agent(cfg, env)
    agent.train(max_samples=64, out_model_file=str(tmp_path / "m.pt"), log_file=str(tmp_path / "log.txt"),
                progress=False)
    from mimickit.learning.logger import read_log
    log = read_log(str(tmp_path / "log.txt"))
    for col in ("disc_loss", "disc_real_acc", "disc_fake_acc", "disc_real_d", "disc_fake_d", "disc_grad_penalty",
                "style_reward_mean", "test_style_reward"):
        assert col in log and all(math.isfinite(v) for v in log[col]), col
    resumed = build_agent(cfg, env)
    resumed.load(str(tmp_path / "m.pt"))
    for p, q in zip(agent.disc.parameters(), resumed.disc.parameters()):
        assert torch.equal(p, q)
    assert torch.equal(agent.disc.obs_norm.mean, resumed.disc.obs_norm.mean) and resumed.iteration == agent.iteration
    # the actor-only export plays without a discriminator, and reports no style reward
    player = build_agent(cfg, env, model_file=str(tmp_path / "m_actor.pt"))
    player.load(str(tmp_path / "m_actor.pt"), weights_only=True)
    result = player.test(2)
    assert result["episodes"] >= 2 and "test_style_reward" not in result
    env.close()


def test_a_checkpoint_with_another_window_is_refused(tmp_path):
    env = amp_env(2)
    cfg = tiny_amp_config(tmp_path)
    build_agent(cfg, env).save(str(tmp_path / "m.pt"))
    other = amp_env(2, num_disc_obs_steps=4)
    with pytest.raises(CheckpointError, match="disc_obs_dim 1300; this env has 520"):
        build_agent(cfg, other).load(str(tmp_path / "m.pt"))
    # the same observation, another discriminator (its width, or an older version's normalizer): one line
    (tmp_path / "wide").mkdir()
    wide = yaml.safe_load(open(cfg))
    wide["model"]["disc_net"] = "fc_1layers_64units"
    (tmp_path / "wide" / "agent.yaml").write_text(yaml.safe_dump(wide))
    build_agent(str(tmp_path / "wide" / "agent.yaml"), env).save(str(tmp_path / "wide.pt"))
    with pytest.raises(CheckpointError, match=r"wide\.pt: its discriminator does not fit this agent's .*other shapes"):
        build_agent(cfg, env).load(str(tmp_path / "wide.pt"))
    ppo_env = build_env(os.path.join(REPO_ROOT, "data", "envs", "deepmimic_humanoid_env.yaml"), ENGINE, 2)
    from mimickit.engines.engine import ConfigError
    with pytest.raises(ConfigError, match="AMP needs an env with discriminator observations"):
        build_agent(cfg, ppo_env)
    for e in (env, other, ppo_env):
        e.close()


@CUDA
def test_graphed_discriminator_steps_match_eager_ones(tmp_path):
    """The gradient penalty's double backward, captured in a CUDA graph, does what the eager step does."""
    torch.backends.cuda.matmul.allow_tf32 = False
    stats = {}
    for graphs in (False, True):
        torch.manual_seed(6)
        env = amp_env(4)
        agent = build_agent(tiny_amp_config(tmp_path, cuda_graphs=graphs), env, device="cuda")
        torch.backends.cuda.matmul.allow_tf32 = False
        g = torch.Generator().manual_seed(0)
        fake = torch.randn(64, env.disc_obs_dim, generator=g).cuda()
        env.sample_disc_obs_demo = lambda n: torch.randn(n, env.disc_obs_dim, generator=g).cuda() + 0.5
        for _ in range(4):
            out = agent._disc_update(fake)
        stats[graphs] = ({k: v.item() for k, v in out.items()}, [p.detach().clone() for p in agent.disc.parameters()],
                         agent._disc_step._graph is not None)
        env.close()
    assert stats[True][2] and not stats[False][2]
    for k in stats[False][0]:
        assert stats[True][0][k] == pytest.approx(stats[False][0][k], rel=1e-3, abs=1e-5), k
    for p, q in zip(stats[False][1], stats[True][1]):
        assert torch.allclose(p, q, atol=1e-4)


def test_bf16_discriminator_steps_follow_the_fp32_ones(tmp_path):
    """disc_bf16 only changes the precision of D's matrix products: its loss, penalty and update stay
    close to fp32's, and its parameters stay fp32."""
    results = {}
    for bf16 in (False, True):
        torch.manual_seed(7)
        env = amp_env(4)
        agent = build_agent(tiny_amp_config(tmp_path, disc_bf16=bf16), env)
        g = torch.Generator().manual_seed(1)
        fake = torch.randn(64, env.disc_obs_dim, generator=g)
        env.sample_disc_obs_demo = lambda n: torch.randn(n, env.disc_obs_dim, generator=g) + 0.5
        stats = [agent._disc_update(fake) for _ in range(3)]
        results[bf16] = (stats, [p.detach().clone() for p in agent.disc.parameters()])
        assert all(p.dtype == torch.float32 for p in agent.disc.parameters())
        env.close()
    for s32, s16 in zip(results[False][0], results[True][0]):
        for k in ("disc_loss", "disc_grad_penalty", "disc_real_d", "disc_fake_d"):
            assert s16[k].item() == pytest.approx(s32[k].item(), rel=0.05, abs=1e-3), k
    moved = [(q - p).abs().max() for p, q in zip(results[False][1], results[True][1])]
    assert 0 < max(moved) < 1e-3  # the flag does change the arithmetic, by a few Adam steps of 1e-4 at most
