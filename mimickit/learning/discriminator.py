"""AMP's discriminator (Peng et al. 2021) and the math around it.

D looks at a short window of character states s (``num_disc_obs_steps`` consecutive frames, see
``AMPEnv``) and outputs one number d = D(s): high for the motion dataset ("real"), low for the policy's
motion ("fake"). Its output becomes the policy's *style reward*. Two objectives, chosen by the agent
YAML's ``disc_objective``:

logistic (a standard GAN; d is a logit, sigmoid(d) the probability that s is real):

    L_D = 1/2 ( E_real[-log sigmoid(d)] + E_fake[-log(1 - sigmoid(d))] )
    r(s) = -log(max(1 - sigmoid(d), 1e-4))

least squares (the AMP paper: real -> 1, fake -> -1):

    L_D = 1/2 ( E_real[(d - 1)^2] + E_fake[(d + 1)^2] )
    r(s) = max(0, 1 - 1/4 (d - 1)^2)

Both rewards are then multiplied by ``disc_reward_scale``. The regularizers the agent adds to L_D:

    disc_grad_penalty * E_real[ ||grad_s d||^2 ]     keeps D flat on the data, so that its reward
                                                      changes smoothly near the real motion (ADD
                                                      averages it with E_fake[...]: see add_agent.py)
    disc_logit_reg    * ||W_out||^2                  the last layer's weights: logits stay small
    disc_weight_decay * sum ||W||^2                  all weight matrices

Inputs are normalized by D's own running normalizer (clip 10), not the policy's (ADD: scale only).
"""
import torch
from torch import nn

from mimickit.learning.nets import build_mlp
from mimickit.learning.normalizer import Normalizer, ScaleNormalizer

OBJECTIVES = ("logistic", "least_squares")
REWARD_FLOOR = 1e-4  # logistic reward: 1 - D is clamped here, so one sample's reward is at most -log(1e-4)


class Discriminator(nn.Module):
    def __init__(self, obs_dim, net="fc_2layers_1024units", activation="relu", normalizer_samples=None,
                 obs_clip=10.0, scale_only=False):
        super().__init__()
        self.obs_dim = int(obs_dim)
        # scale_only: x / E|x| with no shift and no clip (ADD's differences, whose zero must stay zero)
        self.obs_norm = (ScaleNormalizer(obs_dim, max_samples=normalizer_samples) if scale_only
                         else Normalizer(obs_dim, max_samples=normalizer_samples, clip=obs_clip))
        self.body, width = build_mlp(net, obs_dim, activation)
        self.out = nn.Linear(width, 1)

    def forward(self, norm_obs):
        """norm_obs [B, obs_dim] (normalized) -> d [B]."""
        return self.out(self.body(norm_obs)).squeeze(-1)

    def output(self, obs):
        """obs [B, obs_dim] (raw) -> d [B]."""
        return self(self.obs_norm.normalize(obs))

    def logit_weights(self):
        return self.out.weight

    def weight_matrices(self):
        return [m.weight for m in self.modules() if isinstance(m, nn.Linear)]


def check_objective(name, where):
    if name not in OBJECTIVES:
        from mimickit.engines.engine import ConfigError
        raise ConfigError("%s: disc_objective '%s'; expected one of %s" % (where, name, ", ".join(OBJECTIVES)))


def disc_loss(objective, d_real, d_fake):
    """The objective's L_D (module docstring) of outputs d_real [M] and d_fake [M'] -> scalar."""
    if objective == "logistic":
        # -log sigmoid(d) = softplus(-d); -log(1 - sigmoid(d)) = softplus(d): stable for any d
        return 0.5 * (nn.functional.softplus(-d_real).mean() + nn.functional.softplus(d_fake).mean())
    return 0.5 * ((d_real - 1.0).pow(2).mean() + (d_fake + 1.0).pow(2).mean())


def style_reward(objective, d):
    """Reward [B] of outputs d [B] (before disc_reward_scale)."""
    if objective == "logistic":
        one_minus_p = torch.sigmoid(-d)  # 1 - sigmoid(d), without the round-off of 1 - p near p = 1
        return -torch.log(one_minus_p.clamp_min(REWARD_FLOOR))
    return (1.0 - 0.25 * (d - 1.0).pow(2)).clamp_min(0.0)


def disc_prob(objective, d):
    """What the log reports as "D": the probability sigmoid(d) (logistic) or d itself (least squares)."""
    return torch.sigmoid(d) if objective == "logistic" else d


def disc_accuracy(d_real, d_fake):
    """Fractions of real samples with d > 0 and of fake ones with d < 0 (both objectives put the
    boundary at 0: the logit 0 is probability 1/2, and 0 is halfway between -1 and 1)."""
    return (d_real > 0).float().mean(), (d_fake < 0).float().mean()


def rank_correlation(a, b):
    """Spearman's rank correlation of a and b (same number of elements, any shape): how well a reward orders
    states by an error (-1: a perfect inverse ranking)."""
    rank = lambda x: x.flatten().argsort().argsort().float()
    return float(torch.corrcoef(torch.stack([rank(a), rank(b)]))[0, 1])


def gradient_penalty(d_real, x_real):
    """E[ ||grad_x d||^2 ] over the real samples; x_real [M, F] must require grad and d_real [M] come
    from it. The graph is kept (create_graph) so the penalty itself can be minimized."""
    grad, = torch.autograd.grad(d_real.sum(), x_real, create_graph=True)
    return grad.pow(2).sum(-1).mean()
