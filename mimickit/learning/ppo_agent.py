"""PPO (Schulman et al. 2017): the clipped surrogate objective.

    r(theta) = pi_theta(a|s) / pi_old(a|s)
    L_actor  = -E[ min(r A, clip(r, 1 - eps, 1 + eps) A) ]  + action penalties
    L_critic = 0.5 E[ (V(s) - R)^2 ]

A is the GAE advantage, normalized over the batch and clipped to +-norm_adv_clip; R is the
TD(lambda) return.
"""
import torch

from mimickit.learning.base_agent import BaseAgent


def ppo_surrogate_loss(logp_new, logp_old, advantages, clip_ratio):
    """-E[min(r A, clip(r) A)] and the fraction of samples whose ratio was clipped."""
    ratio = torch.exp(logp_new - logp_old)
    surr = torch.minimum(ratio * advantages, ratio.clamp(1.0 - clip_ratio, 1.0 + clip_ratio) * advantages)
    clip_frac = ((ratio - 1.0).abs() > clip_ratio).float().mean()
    return -surr.mean(), clip_frac


def normalize_advantages(adv, clip):
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    return adv.clamp(-clip, clip)


class PPOAgent(BaseAgent):
    CONFIG_KEYS = dict(BaseAgent.CONFIG_KEYS, ppo_clip_ratio=0.2, norm_adv_clip=4.0)

    def _update(self, buf):
        batch = {"obs": buf.flat("obs"), "action": buf.flat("action"), "logp_old": buf.flat("logp"),
                 "adv": normalize_advantages(buf.flat("advantage"), self.config["norm_adv_clip"])}
        critic_loss = self._critic_update({"obs": batch["obs"], "return": buf.flat("return")})

        def clipped_surrogate(logp, mb):
            loss, clip_frac = ppo_surrogate_loss(logp, mb["logp_old"], mb["adv"], self.config["ppo_clip_ratio"])
            return loss, {"clip_frac": clip_frac}

        stats = self._actor_update(batch, clipped_surrogate)
        stats["critic_loss"] = critic_loss
        return stats
