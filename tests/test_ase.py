"""ASE: latents in the env, the encoder's reward and loss, the diversity objective, and the agent end to end."""
import math
import os

import pytest
import torch
import yaml

from mimickit.engines.engine import ConfigError
from mimickit.envs.ase_env import sample_unit_latents
from mimickit.envs.env_builder import build_env
from mimickit.learning import encoder as E
from mimickit.learning.agent_builder import build_agent
from mimickit.learning.base_agent import CheckpointError, EpisodeStats
from mimickit.learning.normalizer import Normalizer

from conftest import REPO_ROOT, bounded_cli_run
from test_amp import tiny_amp_config

ASE_ENV = os.path.join(REPO_ROOT, "data", "envs", "ase_humanoid_env.yaml")
ENGINE = os.path.join(REPO_ROOT, "data", "engines", "mujoco_engine.yaml")
ASE_AGENT = os.path.join(REPO_ROOT, "data", "agents", "ase_humanoid_agent.yaml")
LOCOMOTION = os.path.join(REPO_ROOT, "data", "datasets", "dataset_humanoid_locomotion.yaml")


def ase_env(num_envs=4, **overrides):
    overrides.setdefault("motion_file", LOCOMOTION)  # two clips: quick to load
    return build_env(ASE_ENV, ENGINE, num_envs, overrides=overrides)


def tiny_ase_config(tmp_path, **extra):
    return tiny_amp_config(tmp_path, source=ASE_AGENT, **extra)


def unit_norms(z):
    return z.norm(dim=-1)


# ---------------------------------------------------------------- the math
def test_sampled_latents_are_unit_vectors_spread_over_the_sphere():
    z = sample_unit_latents(4000, 8, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(unit_norms(z), torch.ones(4000), atol=1e-5)
    assert z.mean(0).abs().max() < 0.03  # no preferred direction
    assert torch.allclose(z.pow(2).mean(0), torch.full((8,), 1 / 8), atol=0.01)  # isotropic


def test_encoder_output_is_unit_length_and_its_loss_and_reward_follow_the_formula():
    torch.manual_seed(1)
    enc = E.LatentEncoder(6, 3, "fc_1layers_16units")
    mu = enc(torch.randn(5, 6))
    assert torch.allclose(unit_norms(mu), torch.ones(5), atol=1e-6)
    z = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [0.6, 0.8, 0], [-1.0, 0, 0]])
    m = torch.tensor([[1.0, 0, 0], [1.0, 0, 0], [0, 0.6, 0.8], [0.6, 0.8, 0], [1.0, 0, 0]])
    assert torch.allclose(E.latent_match(z, m), torch.tensor([1.0, 0.0, 0.8, 1.0, -1.0]))
    assert E.encoder_loss(z, m).item() == pytest.approx(-(1.0 + 0 + 0.8 + 1.0 - 1.0) / 5)


def test_diversity_loss_matches_a_hand_computation():
    mean_a = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    mean_b = torch.tensor([[0.2, 0.0], [1.0, 0.0]])
    z_a = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    z_b = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])
    loss, bonus = E.diversity_loss(mean_a, mean_b, z_a, z_b, target=1.0)
    # sample 0: d_a = (0.04 + 0) / 2 = 0.02, d_z = 0.5 - 0.5 * 0 = 0.5 -> 0.02 / 0.50001
    # sample 1: d_a = (0 + 1) / 2 = 0.5,   d_z = 0.5 + 0.5 = 1.0     -> 0.5 / 1.00001
    b0, b1 = 0.02 / 0.50001, 0.5 / 1.00001
    assert bonus.item() == pytest.approx((b0 + b1) / 2, rel=1e-5)
    assert loss.item() == pytest.approx(((1 - b0) ** 2 + (1 - b1) ** 2) / 2, rel=1e-5)


def test_normalizer_leaves_kept_entries_as_they_are():
    norm = Normalizer(5)
    norm.keep_as_is(slice(3, 5))
    x = torch.randn(1000, 5) * 4 + 3
    norm.update(x)
    out = norm.normalize(x)
    assert torch.allclose(out[:, 3:], x[:, 3:].clamp(-5, 5), atol=1e-6)
    assert out[:, :3].mean(0).abs().max() < 0.05  # the others are normalized


# ---------------------------------------------------------------- the env
def test_latents_stay_on_the_sphere_through_resets_and_resampling():
    torch.manual_seed(2)
    env = ase_env(6, latent_steps_min=1, latent_steps_max=1)  # a new latent every step
    obs, _ = env.reset()
    assert obs.shape == (6, env.obs_dim) and torch.equal(obs[:, env.latent_obs_slice], env.get_latents())
    prev = env.get_latents()
    for _ in range(5):
        obs, _, done, _ = env.step(env.neutral_action())
        z = env.get_latents()
        assert torch.allclose(unit_norms(z), torch.ones(6), atol=1e-5)
        assert (z - prev).abs().amax(-1).min() > 1e-3  # every env drew a new one
        assert torch.equal(obs[:, env.latent_obs_slice], z)
        prev = z
    env.close()


def test_latents_last_between_latent_steps_min_and_max():
    torch.manual_seed(3)
    env = ase_env(8, latent_steps_min=3, latent_steps_max=5, episode_length=100.0, enable_early_termination=False)
    env.reset()
    prev, last_change, spans = env.get_latents(), torch.zeros(8, dtype=torch.long), []
    for t in range(1, 40):
        env.step(env.neutral_action())
        z = env.get_latents()
        for i in ((z - prev).abs().amax(-1) > 0).nonzero().flatten().tolist():
            if last_change[i] > 0:
                spans.append(t - int(last_change[i]))
            last_change[i] = t
        prev = z
    assert spans and min(spans) >= 3 and max(spans) <= 5 and len(set(spans)) > 1
    env.close()


def test_set_latent_changes_the_policy_input_of_exactly_the_chosen_envs():
    torch.manual_seed(4)
    env = ase_env(5, latent_steps_min=1, latent_steps_max=1)
    env.reset()
    before = env.get_obs()
    z = torch.randn(2, env.latent_dim)
    env.set_latent([1, 3], z)
    after = env.get_obs()
    s = env.latent_obs_slice
    assert torch.equal(after[[0, 2, 4]], before[[0, 2, 4]])
    assert torch.equal(after[[1, 3], :s.start], before[[1, 3], :s.start])
    assert torch.allclose(after[[1, 3], s], z / z.norm(dim=-1, keepdim=True))
    # held through steps (the others resample every step) and through resets, until released
    for _ in range(3):
        obs, _, _, _ = env.step(env.neutral_action())
    assert torch.allclose(obs[[1, 3], s], z / z.norm(dim=-1, keepdim=True))
    env.reset([1])
    assert torch.allclose(env.get_latents()[1], z[0] / z[0].norm())
    env.release_latent([1, 3])
    obs, _, _, _ = env.step(env.neutral_action())
    assert not torch.allclose(obs[1, s], z[0] / z[0].norm())
    with pytest.raises(ValueError, match=r"\[latent_dim\] = \[64\] or \[len\(env_ids\), latent_dim\] = \[2, 64\]"):
        env.set_latent([0, 1], torch.ones(3))
    with pytest.raises(ValueError, match="non-zero"):
        env.set_latent([0], torch.zeros(64))
    env.close()


def test_test_mode_keeps_one_latent_per_episode_unless_configured():
    torch.manual_seed(5)
    for resample in (False, True):
        env = ase_env(4, latent_steps_min=1, latent_steps_max=1, test_latent_steps=resample,
                      enable_early_termination=False)
        env.set_mode("test")
        env.reset()
        start = env.get_latents()
        for _ in range(4):
            env.step(env.neutral_action())
        assert torch.equal(env.get_latents(), start) != resample
        env.set_mode("train")
        env.close()


def test_latent_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="latent_steps_min \\(9\\) is larger than latent_steps_max \\(3\\)"):
        ase_env(1, latent_steps_min=9, latent_steps_max=3)
    with pytest.raises(ConfigError, match="latent_dim is 0; expected a positive integer"):
        ase_env(1, latent_dim=0)


# ---------------------------------------------------------------- the agent
def test_rewards_add_the_encoder_reward_to_the_style_reward(tmp_path):
    torch.manual_seed(6)
    env = ase_env(4)
    agent = build_agent(tiny_ase_config(tmp_path, task_reward_weight=0.0, disc_reward_weight=0.7,
                                        enc_reward_scale=0.3), env)
    buf, _ = agent._rollout(env.reset()[0], 8, EpisodeStats("cpu"))
    disc_obs, z = buf.flat("disc_obs"), buf.flat("obs")[:, env.latent_obs_slice]
    mu = agent.encoder(agent.disc.obs_norm.normalize(disc_obs))
    enc = 0.3 * (z * mu).sum(-1)
    assert torch.allclose(agent.encoder_reward(disc_obs, z), enc, atol=1e-6)
    style = agent.style_reward(disc_obs)
    assert torch.allclose(buf["reward"].flatten(), 0.7 * (style + enc), atol=1e-5)
    env.close()


def test_the_encoder_learns_to_recover_latents(tmp_path):
    """On fixed windows labelled with fixed latents, the encoder's update raises z . mu."""
    torch.manual_seed(7)
    env = ase_env(4)
    agent = build_agent(tiny_ase_config(tmp_path, disc_optimizer={"type": "Adam", "learning_rate": 3e-3}), env)
    fake = env.sample_disc_obs_demo(64)
    z = sample_unit_latents(64, env.latent_dim)
    agent.disc.obs_norm.update(fake)
    first = None
    for _ in range(60):
        stats = agent._disc_update(fake, {"latent": z})
        first = stats["enc_loss"].item() if first is None else first
    assert stats["enc_loss"].item() < first - 0.3
    env.close()


def test_train_logs_every_loss_saves_resumes_and_plays(tmp_path):
    torch.manual_seed(8)
    env = ase_env(4)
    cfg = tiny_ase_config(tmp_path, enc_grad_penalty=0.1, enc_weight_decay=1e-4)
    agent = build_agent(cfg, env)
    agent.train(max_samples=64, out_model_file=str(tmp_path / "m.pt"), log_file=str(tmp_path / "log.txt"),
                progress=False)
    from mimickit.learning.logger import read_log
    log = read_log(str(tmp_path / "log.txt"))
    for col in ("disc_loss", "disc_grad_penalty", "disc_real_acc", "disc_fake_acc", "style_reward_mean",
                "enc_loss", "enc_grad_penalty", "enc_reward_mean", "diversity_loss", "diversity_bonus",
                "actor_loss", "critic_loss"):
        assert col in log and all(math.isfinite(v) for v in log[col]), col
    resumed = build_agent(cfg, env)
    resumed.load(str(tmp_path / "m.pt"))
    for p, q in zip(agent.encoder.parameters(), resumed.encoder.parameters()):
        assert torch.equal(p, q)
    # the latent entries of the observation are never normalized, before and after loading
    s = env.latent_obs_slice
    for a in (agent, resumed):
        x = torch.randn(3, env.obs_dim)
        assert torch.allclose(a.model.obs_norm.normalize(x)[:, s], x[:, s], atol=1e-4)
    player = build_agent(cfg, env, model_file=str(tmp_path / "m_actor.pt"))
    player.load(str(tmp_path / "m_actor.pt"), weights_only=True)
    assert player.test(2)["episodes"] >= 2
    env.close()


def test_actor_hold_fits_critic_discriminator_and_encoder_while_the_actor_stays_put(tmp_path):
    """actor_hold_samples (a run started from an actor file): the actor's steps are undone, with real losses
    logged, while the critic, D and the encoder learn; the first iteration after the hold moves the actor."""
    torch.manual_seed(11)
    env = ase_env(4)
    agent = build_agent(tiny_ase_config(tmp_path, actor_hold_samples=2 * 8 * 4), env)  # two iterations

    def snapshot(params):
        return [p.detach().clone() for p in params]

    actor0, critic0 = snapshot(agent.model.actor_parameters()), snapshot(agent.model.critic_parameters())
    disc0, enc0 = snapshot(agent.disc.parameters()), snapshot(agent.encoder.parameters())
    obs, _ = env.reset()
    for _ in range(2):
        obs, stats = agent.train_iteration(obs)
        assert math.isfinite(stats["actor_loss"]) and stats["clip_frac"] >= 0
    assert all(torch.equal(a, b) for a, b in zip(actor0, agent.model.actor_parameters()))
    for before, module in ((critic0, agent.model.critic_parameters()), (disc0, agent.disc.parameters()),
                           (enc0, agent.encoder.parameters())):
        assert any(not torch.equal(a, b) for a, b in zip(before, module))
    # Adam starts afresh after the hold: no moments gathered from the held steps
    assert all(float(v.abs().sum()) == 0 for st in agent.actor_optimizer.state.values() for v in st.values()
               if torch.is_tensor(v))
    agent.train_iteration(obs)
    assert any(not torch.equal(a, b) for a, b in zip(actor0, agent.model.actor_parameters()))
    env.close()


def test_a_shared_encoder_is_a_head_on_the_discriminators_layers(tmp_path):
    """enc_net: shared (the ASE authors' default): the encoder's own parameters are one linear layer, its
    features are D's hidden layers (changing them changes mu), its loss trains them, training runs with it,
    and a checkpoint of a separate encoder is refused by name."""
    torch.manual_seed(9)
    env = ase_env(4)
    cfg = tiny_ase_config(tmp_path)
    shared_cfg = str(tmp_path / "shared.yaml")
    spec = yaml.safe_load(open(cfg))
    spec["model"]["enc_net"] = "shared"
    open(shared_cfg, "w").write(yaml.safe_dump(spec))
    agent = build_agent(shared_cfg, env)
    head = agent.encoder.out
    assert [p.shape for p in agent.encoder.parameters()] == [head.weight.shape, head.bias.shape]
    assert head.in_features == agent.disc.out.in_features and head.out_features == env.latent_dim
    assert set(agent.encoder.state_dict()) == {"out.weight", "out.bias"}
    ids = [id(p) for p in agent._disc_params()]
    assert len(ids) == len(set(ids))  # D's layers once in the optimizer
    x = torch.randn(5, env.disc_obs_dim)
    mu = agent.encoder(x)
    with torch.no_grad():
        next(agent.disc.body.parameters()).add_(0.1)
    assert not torch.allclose(agent.encoder(x), mu)
    z = sample_unit_latents(5, env.latent_dim)
    E.encoder_loss(z, agent.encoder(x)).backward()
    assert next(agent.disc.body.parameters()).grad.abs().sum() > 0
    agent.train(max_samples=64, out_model_file=str(tmp_path / "s.pt"), log_file=str(tmp_path / "s_log.txt"),
                progress=False)
    separate = build_agent(cfg, env)
    separate.save(str(tmp_path / "sep.pt"))
    with pytest.raises(CheckpointError, match="enc_net shared"):
        build_agent(shared_cfg, env).load(str(tmp_path / "sep.pt"))
    resumed = build_agent(shared_cfg, env)
    resumed.load(str(tmp_path / "s.pt"))
    assert torch.equal(resumed.encoder(x), agent.encoder(x))
    env.close()


def test_ase_needs_latents_and_refuses_an_amp_checkpoint(tmp_path):
    cfg = tiny_ase_config(tmp_path)
    amp_env = build_env(os.path.join(REPO_ROOT, "data", "envs", "amp_humanoid_env.yaml"), ENGINE, 2)
    with pytest.raises(ConfigError, match="ASE needs an env with latents"):
        build_agent(cfg, amp_env)
    amp_env.close()
    env = ase_env(2)
    agent = build_agent(cfg, env)
    state_file = tmp_path / "amp_like.pt"
    agent.save(str(state_file))
    state = torch.load(str(state_file), weights_only=True)
    del state["encoder"]
    torch.save(state, str(state_file))
    with pytest.raises(CheckpointError, match="no encoder in this checkpoint"):
        build_agent(cfg, env).load(str(state_file))
    env.close()


# ---------------------------------------------------------------- evaluation
def test_run_distance_is_ground_path_difference_plus_joint_angle_difference():
    from mimickit.learning.ase_eval import LatentRollout, run_distances
    from mimickit.util import rotations as rot
    T, J = 3, 2
    root_pos = torch.zeros(T, 3, 3)
    root_pos[:, 0, 0] = torch.tensor([0.0, 1.0, 2.0])  # env 0 walks 2 m along its heading
    root_pos[:, 1, 1] = torch.tensor([0.0, 1.0, 2.0])  # env 1 along world y, but it faces +y at the start:
    root_pos[:, 2] = torch.tensor([5.0, 5.0, 0.9])  # env 2 stands still, elsewhere
    root_rot = torch.tensor([0.0, 0.0, 0.0, 1.0]).repeat(T, 3, 1)
    root_rot[:, 1] = rot.axis_angle_to_quat(torch.tensor([0.0, 0.0, 1.0]), torch.tensor(math.pi / 2))
    joint_rot = torch.tensor([0.0, 0.0, 0.0, 1.0]).repeat(T, 3, J, 1)
    # env 2's first joint turned by 0.3 rad about x in every frame: mean over 2 joints = 0.15 rad
    joint_rot[:, 2, 0] = rot.axis_angle_to_quat(torch.tensor([1.0, 0.0, 0.0]), torch.tensor(0.3))
    d = run_distances(LatentRollout(root_pos, root_rot, joint_rot, None, None, None, 1 / 30))
    assert d[0, 1].item() == pytest.approx(0.0, abs=1e-5)  # the same walk in each one's start frame
    assert d[0, 2].item() == pytest.approx((0 + 1 + 2) / 3 + 0.15, abs=1e-4)
    assert torch.allclose(d, d.T) and torch.allclose(d.diagonal(), torch.zeros(3), atol=1e-4)


def test_divergence_over_time_means_distances_and_wrapped_heading_differences_per_kind_of_pair():
    from mimickit.learning.ase_eval import LatentRollout, divergence_over_time
    from mimickit.util import rotations as rot
    z_axis = torch.tensor([0.0, 0.0, 1.0])

    def about_z(deg):
        return rot.axis_angle_to_quat(z_axis, torch.tensor(math.radians(deg)))

    root_pos, root_rot = torch.zeros(3, 4, 3), torch.tensor([0.0, 0.0, 0.0, 1.0]).repeat(3, 4, 1)
    # frame 1: envs 0 and 1 (latent 0) face -170 and 170 deg: 20 deg apart across +-180, not 340
    root_rot[1, 0], root_rot[1, 1] = about_z(-170.0), about_z(170.0)
    # frame 2: envs 0 and 1 at (2, 0) and (2, 1), envs 2 and 3 (latent 1) both at (0, 2); headings 0, 90, 0, 30
    root_pos[2, :, :2] = torch.tensor([[2.0, 0.0], [2.0, 1.0], [0.0, 2.0], [0.0, 2.0]])
    root_rot[2, 1], root_rot[2, 3] = about_z(90.0), about_z(30.0)
    rollout = LatentRollout(root_pos, root_rot, None, None, None, None, 1.0)
    rows = divergence_over_time({"rollout": rollout, "latent_of_env": torch.tensor([0, 0, 1, 1])}, times=(1.0, 2.0, 3.0))
    assert len(rows) == 2  # 3 s is after the rollout's end
    t, same_d, diff_d, same_h, diff_h = rows[0]
    assert (t, same_d, diff_d) == (1.0, 0.0, 0.0)
    assert same_h == pytest.approx((20 + 0) / 2, abs=1e-3) and diff_h == pytest.approx(170.0, abs=1e-3)
    t, same_d, diff_d, same_h, diff_h = rows[1]
    assert same_d == pytest.approx((1 + 0) / 2, abs=1e-5)
    assert diff_d == pytest.approx((2 * math.sqrt(8) + 2 * math.sqrt(5)) / 4, abs=1e-5)
    assert same_h == pytest.approx((90 + 30) / 2, abs=1e-3) and diff_h == pytest.approx((0 + 30 + 90 + 60) / 4, abs=1e-3)


def test_diversity_compares_runs_of_the_same_latent_with_runs_of_different_ones(tmp_path):
    from mimickit.learning.ase_eval import build_latent_env, diversity
    torch.manual_seed(9)
    env = build_latent_env(6, 0.5, ASE_ENV, ENGINE)
    agent = build_agent(tiny_ase_config(tmp_path), env)
    # a policy whose action means follow the latent strongly: runs of one latent stay close together
    with torch.no_grad():
        w = agent.model.actor_body[0].weight
        w.zero_()
        w[:, env.latent_obs_slice] = torch.randn(w.shape[0], env.latent_dim)
        agent.model.actor_mean.weight.normal_(0.0, 0.05)
    result = diversity(agent, num_latents=2, runs=3, seconds=0.5)
    r = result["rollout"]
    assert r.root_pos.shape == (16, 6, 3) and r.frames.shape[:2] == (16, 6)
    assert torch.allclose(r.root_pos[0], r.root_pos[0, :1].expand(6, 3))  # one standing start for all
    assert result["latent_of_env"].tolist() == [0, 0, 0, 1, 1, 1]
    assert 0 < 2 * result["same"] < result["different"]
    assert result["same"] == pytest.approx(result["same_path"] + result["same_joint"])
    assert result["different"] == pytest.approx(result["different_path"] + result["different_joint"])
    assert torch.equal(result["lowest_root"], r.root_pos[..., 2].min(dim=0).values)
    with pytest.raises(ValueError, match="num_latents \\* runs = 8 envs; it has 6"):
        diversity(agent, num_latents=4, runs=2)
    env.close()


def test_bounded_cpu_run_of_the_ase_config_logs_every_loss_and_records(tmp_path):
    rec = tmp_path / "rollouts"
    log, _ = bounded_cli_run(tmp_path, "args/ase_humanoid_upright_args.txt", test_args=["--record_motion", str(rec)])
    for col in ("disc_loss", "disc_real_acc", "disc_fake_acc", "disc_grad_penalty", "style_reward_mean",
                "enc_loss", "enc_reward_mean", "diversity_loss", "diversity_bonus", "actor_loss", "critic_loss"):
        assert all(math.isfinite(v) for v in log[col]), col
    assert (rec / "dataset.yaml").is_file() and len(list(rec.glob("episode_*.pkl"))) >= 2
    from mimickit.anim.motion_match import main as match_main
    assert match_main([str(rec / "dataset.yaml"), LOCOMOTION]) == 0


def test_nearest_pose_distance_and_the_leave_one_clip_out_figure():
    from mimickit.anim.motion_match import match_to_dataset, nearest_pose_distance
    from mimickit.util import rotations as rot
    x = torch.tensor([1.0, 0.0, 0.0])

    def pose(*angles):  # one pose of len(angles) joints, each turned about x by its angle (rad)
        return torch.stack([rot.axis_angle_to_quat(x, torch.tensor(a)) for a in angles]).unsqueeze(0)

    pool = torch.cat([pose(0.0, 0.0), pose(0.4, 0.2)])
    query = torch.cat([pose(0.1, 0.0), pose(0.4, 0.2), -pose(0.4, 0.2)])  # -q is the same rotation
    d = nearest_pose_distance(query, pool)
    assert torch.allclose(d, torch.tensor([math.degrees(0.05), 0.0, 0.0]), atol=1e-2)
    clips = [torch.cat([pose(0.0, 0.0), pose(0.2, 0.0)]), pose(0.6, 0.0)]
    out = match_to_dataset([pose(0.2, 0.2)], clips)
    # recorded: nearest is (0.2, 0) at a mean of 0.1 rad; clip 0 frames to clip 1: 0.3 and 0.2; clip 1 to clip 0: 0.2
    assert out["recorded_deg"] == pytest.approx(math.degrees(0.1), abs=1e-2)
    assert out["dataset_deg"] == pytest.approx(math.degrees((0.3 + 0.2 + 0.2) / 3), abs=1e-2)
    assert out["frames"] == 1


def test_great_circle_walks_on_the_sphere_from_one_latent_to_the_other():
    from mimickit.learning.ase_eval import great_circle
    a, b = sample_unit_latents(2, 16, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(great_circle(a, b, 0.0), a, atol=1e-5) and torch.allclose(great_circle(a, b, 1.0), b, atol=1e-5)
    angle = torch.acos((a * b).sum())
    for t in (0.25, 0.5, 0.9):
        z = great_circle(a, b, t)
        assert z.norm().item() == pytest.approx(1.0, abs=1e-5)
        assert torch.acos((a * z).sum().clamp(-1, 1)).item() == pytest.approx(t * angle.item(), abs=1e-4)
    with pytest.raises(ValueError, match="opposite"):
        great_circle(a, -a, 0.5)


def test_masked_stepping_keeps_latents_held_resampled_and_in_the_observation():
    """The GPU way of stepping (fixed shapes, resets blended in where done), here on the CPU."""
    torch.manual_seed(10)
    env = ase_env(6, latent_steps_min=2, latent_steps_max=2, episode_length=0.2)  # resets every 6 steps
    env.masked_step, env.compile_step = True, False
    env.reset()
    z = torch.randn(env.latent_dim)
    env.set_latent([4], z)
    prev, resets = env.get_latents(), 0
    for t in range(13):
        obs, _, done, _ = env.step(env.neutral_action())
        latents = env.get_latents()
        resets += int((done != 0).sum())
        assert torch.allclose(unit_norms(latents), torch.ones(6), atol=1e-5)
        assert torch.equal(obs[:, env.latent_obs_slice], latents)
        assert torch.allclose(latents[4], z / z.norm())  # held through resampling and resets
        if t % 2 == 1:  # every second step the others draw anew
            assert ((latents - prev).abs().amax(-1) > 0).sum() == 5
        prev = latents
    assert resets > 0
    env.close()


def test_falls_by_clip_keeps_each_episodes_start_and_counts_like_test(tmp_path):
    """An untrained ASE policy from dataset frames of the two locomotion clips, episodes of 1 s: every counted
    episode keeps its start clip and time (within that clip), those that fell end before the limit, and the
    table's starts and falls add up; a hybrid env (standing starts) is refused."""
    from mimickit.learning.falls_by_clip import play_from_starts, table
    torch.manual_seed(12)
    env = ase_env(4, episode_length=1.0)
    agent = build_agent(tiny_ase_config(tmp_path), env)
    out = play_from_starts(env, agent, 6)  # a round of 4, then the first 2 envs of a second round
    assert len(out) == 6
    lengths = env.motion_lib._length.tolist()  # [clips] s
    for o in out:
        assert 0 <= o.clip < len(lengths) and 0.0 <= o.start_time <= lengths[o.clip] + 1e-6
        assert 0.0 < o.length <= 1.0 + 1e-6
        assert o.full == (o.length >= 1.0 - 1e-6)
    assert any(not o.full for o in out)  # an untrained policy falls within 1 s from some start
    rows = table(out, ["walk", "run"])
    assert sum(r[1] for r in rows) == 6 and sum(r[2] for r in rows) == sum(not o.full for o in out)
    assert [r[2] for r in rows] == sorted((r[2] for r in rows), reverse=True)
    env.close()
    hybrid = ase_env(2, init_pose_prob=0.5)
    with pytest.raises(ValueError, match="init_pose_prob"):
        play_from_starts(hybrid, build_agent(tiny_ase_config(tmp_path), hybrid), 2)
    hybrid.close()
