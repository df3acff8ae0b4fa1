"""ASE's latent encoder (Peng et al. 2022) and the math around it.

The policy pi(a | s, z) gets a latent z on the unit sphere. For the latents to mean something, the
encoder q(z | s, s') learns to recover z from the motion it produced (the discriminator's window of
states, ``AMPEnv``), and the policy is paid when it can:

    q(z | s, s') = von Mises-Fisher(z; mu(s, s'), kappa)     mu = encoder output, scaled to unit length
    log q        = kappa z . mu + const

    encoder loss      L_enc = -E[ z . mu ]                    (the rollout's windows with their latents)
    encoder reward    r_enc = enc_reward_scale * z . mu       (added to the style reward)

So each latent must produce motion that tells it apart from other latents: a skill of its own. The
encoder's regularizers mirror the discriminator's: ``enc_grad_penalty`` * E[ ||grad_s (z . mu)||^2 ]
and ``enc_weight_decay`` * sum ||W||^2.

``enc_net: shared`` (the ASE authors' default) makes the encoder one linear layer on the discriminator's
hidden layers instead of a network of its own. Both losses then train those layers, and D's gradient penalty
keeps them smooth, so the encoder can tell latents apart only by what D's features see of the motion, not by
small details that a network of its own can pick up.

A policy can still ignore small differences between latents. The **diversity objective** asks that
nearby latents give nearby action means and distant latents distant ones: for each sample with its
latent z and a fresh random latent z',

    d_a   = mean over action dims of (mu_pi(s, z) - mu_pi(s, z'))^2
    d_z   = (1 - z . z') / 2                                  (0 for equal latents, 1 for opposite ones)
    L_div = E[ (diversity_tar - d_a / (d_z + 1e-5))^2 ]        times diversity_weight, in the actor's loss
"""
from torch import nn

from mimickit.learning.nets import build_mlp


SHARED = "shared"  # enc_net: a head on the discriminator's hidden layers


class LatentEncoder(nn.Module):
    def __init__(self, obs_dim, latent_dim, net="fc_2layers_1024units", activation="relu", disc=None):
        """net: an MLP name, or "shared": one linear layer on disc.body (disc: the Discriminator), whose
        parameters stay the discriminator's (not in this module's parameters or state dict)."""
        super().__init__()
        if net == SHARED:
            if disc is None:
                raise ValueError("enc_net: shared needs the discriminator whose hidden layers it shares")
            self._shared = [disc.body]  # a list, so that D's layers are not registered as this module's too
            width = disc.out.in_features
        else:
            self._shared = None
            self.body, width = build_mlp(net, obs_dim, activation)
        self.out = nn.Linear(width, latent_dim)
        # small outputs at first: mu starts near a random direction for every window alike
        nn.init.uniform_(self.out.weight, -0.1, 0.1)
        nn.init.zeros_(self.out.bias)

    def forward(self, norm_obs):
        """norm_obs [B, obs_dim] (normalized by the discriminator's normalizer) -> mu [B, latent_dim], unit length."""
        features = self._shared[0](norm_obs) if self._shared is not None else self.body(norm_obs)
        return nn.functional.normalize(self.out(features), dim=-1)

    def weight_matrices(self):
        return [m.weight for m in self.modules() if isinstance(m, nn.Linear)]


def latent_match(z, mu):
    """z . mu [B] of latents z [B, D] and encoder outputs mu [B, D] (both unit length): 1 when the
    encoder recovers z exactly, 0 for an unrelated direction, -1 for the opposite one."""
    return (z * mu).sum(-1)


def encoder_loss(z, mu):
    """-E[z . mu]: minus the vMF log-likelihood of z, up to kappa and a constant."""
    return -latent_match(z, mu).mean()


def diversity_loss(mean_a, mean_b, z_a, z_b, target):
    """Action means mean_a [B, A] under latents z_a [B, D] and mean_b [B, A] under z_b [B, D] of the same
    states -> (E[(target - bonus)^2], E[bonus]) with bonus = d_a / (d_z + 1e-5) (module docstring)."""
    d_a = (mean_a - mean_b).pow(2).mean(-1)
    d_z = 0.5 - 0.5 * latent_match(z_a, z_b)
    bonus = d_a / (d_z + 1e-5)
    return (target - bonus).pow(2).mean(), bonus.mean()
