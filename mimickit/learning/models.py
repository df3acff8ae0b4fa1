"""Actor-critic model: Gaussian policy pi(a|s) = N(mu(s), diag(sigma^2)) and value V(s), with an
observation normalizer whose statistics travel with the weights."""
import math

import torch
from torch import nn

from mimickit.learning.nets import build_mlp
from mimickit.learning.normalizer import Normalizer


class ActorCritic(nn.Module):
    def __init__(self, obs_dim, act_dim, actor_net="fc_2layers_1024units", critic_net="fc_2layers_1024units",
                 activation="relu", action_std=0.05, learn_action_std=False, normalizer_samples=None,
                 obs_clip=5.0):
        super().__init__()
        self.obs_dim, self.act_dim = int(obs_dim), int(act_dim)
        self.obs_norm = Normalizer(obs_dim, max_samples=normalizer_samples, clip=obs_clip)
        self.actor_body, width = build_mlp(actor_net, obs_dim, activation)
        self.actor_mean = nn.Linear(width, act_dim)
        # a small last layer starts the policy near the centre of the action range
        nn.init.uniform_(self.actor_mean.weight, -0.01, 0.01)
        nn.init.zeros_(self.actor_mean.bias)
        self.log_std = nn.Parameter(torch.full((act_dim,), math.log(action_std)), requires_grad=learn_action_std)
        self.critic_body, width = build_mlp(critic_net, obs_dim, activation)
        self.critic_out = nn.Linear(width, 1)

    def actor_parameters(self):
        params = list(self.actor_body.parameters()) + list(self.actor_mean.parameters())
        return params + ([self.log_std] if self.log_std.requires_grad else [])

    def critic_parameters(self):
        return list(self.critic_body.parameters()) + list(self.critic_out.parameters())

    def action_mean(self, obs):
        """obs [B, obs_dim] (raw) -> mu [B, act_dim]."""
        return self.actor_mean(self.actor_body(self.obs_norm.normalize(obs)))

    def dist(self, obs):
        mean = self.action_mean(obs)
        # no argument validation: its checks (finite mean, positive scale, sample in support) each wait
        # for the GPU, several times per env step and per minibatch; the env checks actions itself
        return torch.distributions.Normal(mean, self.log_std.exp().expand_as(mean), validate_args=False)

    def value(self, obs):
        """obs [B, obs_dim] -> V [B]."""
        return self.critic_out(self.critic_body(self.obs_norm.normalize(obs))).squeeze(-1)

    @torch.no_grad()
    def act(self, obs, deterministic=False):
        """-> (action [B, act_dim], log_prob [B])."""
        d = self.dist(obs)
        a = d.mean if deterministic else d.sample()
        return a, d.log_prob(a).sum(-1)
