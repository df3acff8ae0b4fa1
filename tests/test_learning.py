"""Learning core: GAE, the PPO and AWR objectives, the normalizer, the networks named in configs."""
import math

import numpy as np
import pytest
import torch

from mimickit.learning.awr_agent import awr_weights
from mimickit.learning.nets import build_mlp, parse_net_name
from mimickit.learning.normalizer import Normalizer
from mimickit.learning.ppo_agent import normalize_advantages, ppo_surrogate_loss
from mimickit.learning.returns import compute_gae


def test_gae_hand_computed_with_termination_and_timeout():
    # 5 steps of one env; step 2 falls (terminated), step 4 hits the time limit (truncated) and
    # bootstraps from the value of its final observation, 7.0
    rewards = torch.tensor([[1.0], [2.0], [3.0], [4.0], [5.0]])
    values = torch.tensor([[0.5], [1.0], [1.5], [2.0], [2.5]])
    next_values = torch.tensor([[1.0], [1.5], [9.0], [2.5], [7.0]])  # 9.0 must be ignored
    terminated = torch.tensor([[False], [False], [True], [False], [False]])
    truncated = torch.tensor([[False], [False], [False], [False], [True]])
    adv, ret = compute_gae(rewards, values, next_values, terminated, truncated, gamma=0.9, lam=0.8)
    # by hand: deltas 1.4, 2.35, 1.5, 4.25, 8.8; A_t = delta_t + 0.72 A_{t+1} inside an episode
    expected_adv = [1.4 + 0.72 * (2.35 + 0.72 * 1.5), 2.35 + 0.72 * 1.5, 1.5, 4.25 + 0.72 * 8.8, 8.8]
    np.testing.assert_allclose(adv[:, 0].numpy(), expected_adv, rtol=1e-6)
    np.testing.assert_allclose(ret[:, 0].numpy(), np.array(expected_adv) + values[:, 0].numpy(), rtol=1e-6)


def test_gae_envs_are_independent_and_lambda_one_is_monte_carlo():
    torch.manual_seed(0)
    T, N = 6, 3
    rewards = torch.rand(T, N)
    values = torch.rand(T, N)
    nxt = torch.cat([values[1:], torch.rand(1, N)])
    none = torch.zeros(T, N, dtype=torch.bool)
    adv, ret = compute_gae(rewards, values, nxt, none, none, gamma=0.9, lam=1.0)
    for n in range(N):  # lambda = 1: discounted reward-to-go plus the discounted final bootstrap
        for t in range(T):
            mc = sum(0.9 ** (k - t) * rewards[k, n].item() for k in range(t, T)) + 0.9 ** (T - t) * nxt[-1, n].item()
            assert ret[t, n].item() == pytest.approx(mc, rel=1e-5)


def test_ppo_surrogate_matches_the_formula():
    logp_old = torch.tensor([-1.0, -2.0, -0.5, -1.5, -3.0])
    logp_new = torch.tensor([-0.8, -2.5, -0.5, -1.0, -2.0])
    adv = torch.tensor([1.0, -2.0, 0.5, -1.0, 3.0])
    eps = 0.2
    loss, clip_frac = ppo_surrogate_loss(logp_new, logp_old, adv, eps)
    terms, clipped = [], 0
    for lo, ln, a in zip(logp_old.tolist(), logp_new.tolist(), adv.tolist()):
        r = math.exp(ln - lo)
        terms.append(min(r * a, min(max(r, 1 - eps), 1 + eps) * a))
        clipped += abs(r - 1) > eps
    assert loss.item() == pytest.approx(-sum(terms) / len(terms), rel=1e-6)
    assert clip_frac.item() == pytest.approx(clipped / 5)


def test_ppo_gradient_vanishes_outside_the_trust_region():
    logp_old = torch.zeros(2)
    logp_new = torch.tensor([math.log(1.5), math.log(0.5)], requires_grad=True)
    adv = torch.tensor([1.0, -1.0])  # both already moved past the clip in the advantage's favour
    loss, _ = ppo_surrogate_loss(logp_new, logp_old, adv, 0.2)
    loss.backward()
    assert torch.all(logp_new.grad == 0)


def test_advantage_normalization_and_awr_weights():
    adv = torch.tensor([0.0, 1.0, 2.0, 100.0])
    n = normalize_advantages(adv, clip=1.0)
    assert n.max() <= 1.0 and n.min() >= -1.0
    w = awr_weights(torch.tensor([-1.0, 0.0, 1.0, 10.0]), temp=0.5, weight_clip=20.0)
    np.testing.assert_allclose(w.numpy(), [math.exp(-2), 1.0, math.exp(2), 20.0], rtol=1e-6)


def test_normalizer_running_moments_and_freeze():
    torch.manual_seed(0)
    norm = Normalizer(3, max_samples=300)
    data = torch.randn(500, 3) * torch.tensor([1.0, 2.0, 5.0]) + torch.tensor([0.0, -1.0, 3.0])
    for chunk in data[:300].split(70):
        norm.update(chunk)
    np.testing.assert_allclose(norm.mean.numpy(), data[:300].mean(0).numpy(), atol=1e-5)
    np.testing.assert_allclose(norm.var.numpy(), data[:300].var(0, unbiased=False).numpy(), rtol=1e-4)
    assert norm.frozen
    before = norm.mean.clone()
    norm.update(data[300:] + 100.0)
    assert torch.equal(norm.mean, before)
    z = norm.normalize(data[:300])
    assert z.mean(0).abs().max() < 1e-3


def test_net_names_build_the_layers_they_say():
    assert parse_net_name("fc_3layers_1024units") == [1024, 1024, 1024]
    net, width = build_mlp("fc_2layers_512units", 7)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(7, 512), (512, 512)] and width == 512
    with pytest.raises(ValueError, match="fc_2layers_1024units"):
        parse_net_name("mlp_big")


class _FixedLengthEnv:
    """Env i's episodes last lengths[i] steps and end by a fall, except those of the first env, which
    reach the time limit (a short one); the metric env_index of every step of env i is i."""
    dt = 0.5
    test_metrics = ("env_index",)

    def __init__(self, lengths):
        self.lengths = torch.tensor(lengths)
        self.num_envs = len(lengths)
        self.steps = torch.zeros(self.num_envs, dtype=torch.long)
        self.counted = []

    def set_mode(self, mode):
        pass

    def count_episodes_of(self, mask):
        self.counted.append(None if mask is None else mask.clone())

    def check_errors(self):
        pass

    def reset(self):
        self.steps.zero_()
        return torch.zeros(self.num_envs, 1), {}

    def step(self, action):
        from mimickit.envs.base_env import DoneFlags
        self.steps += 1
        ended = self.steps >= self.lengths
        done = torch.where(ended, int(DoneFlags.FAIL), int(DoneFlags.NULL))
        done[0] = int(DoneFlags.TIME) if bool(ended[0]) else int(DoneFlags.NULL)
        info = {"final_return": torch.where(ended, self.steps.float(), 0.0),
                "final_length": torch.where(ended, self.steps, 0),
                "env_index": torch.arange(self.num_envs).float()}
        self.steps = torch.where(ended, 0, self.steps)
        return torch.zeros(self.num_envs, 1), torch.zeros(self.num_envs), done, info


def test_test_episodes_count_the_first_episode_of_each_env_not_the_first_to_end():
    """With 4 envs whose episodes last 2, 4, 8 and 20 steps, 4 test episodes are one of each (mean 8.5
    steps, one in four full: env 0's, which ends 10 times while env 3 runs once), not the four that end
    first (2, 2, 4, 2)."""
    from types import SimpleNamespace

    from mimickit.learning.base_agent import BaseAgent

    class Policy(torch.nn.Module):
        def act(self, obs, deterministic=False):
            return torch.zeros(obs.shape[0], 1), None

    env = _FixedLengthEnv([2, 4, 8, 20])
    agent = SimpleNamespace(model=Policy(), env=env, device="cpu",
                            _step_metrics=lambda info: {"env_index": (info["env_index"], None)})
    out = BaseAgent.test(agent, 4)
    assert out["episodes"] == 4
    assert out["mean_episode_length"] == pytest.approx(8.5 * env.dt)
    assert out["full_episode_frac"] == pytest.approx(0.25)
    # the metric's mean is over the counted episodes' steps: 2 of env 0, 4 of env 1, 8 of env 2, 20 of env 3
    assert out["env_index"] == pytest.approx((0 * 2 + 1 * 4 + 2 * 8 + 3 * 20) / 34)
    # 6 episodes from 4 envs: a second round counts the first episodes of envs 0 and 1 again
    env2 = _FixedLengthEnv([2, 4, 8, 20])
    out = BaseAgent.test(SimpleNamespace(model=Policy(), env=env2, device="cpu", _step_metrics=lambda info: {}), 6)
    assert out["episodes"] == 6
    assert out["mean_episode_length"] == pytest.approx((2 + 4 + 8 + 20 + 2 + 4) / 6 * env2.dt)
    assert [m.tolist() for m in env2.counted[:-1]] == [[True] * 4, [True, True, False, False]]
    assert env2.counted[-1] is None  # the protocol's mask is lifted afterwards
