"""AWR, advantage-weighted regression (Peng et al. 2019): supervised regression of the policy onto
its own actions, each weighted by the exponentiated advantage.

    w(s, a)  = min(exp(A(s, a) / temp), a_weight_clip)
    L_actor  = -E[ w(s, a) log pi(a|s) ]  + action penalties
    L_critic = 0.5 E[ (V(s) - R)^2 ]
"""
import torch

from mimickit.learning.base_agent import BaseAgent
from mimickit.learning.ppo_agent import normalize_advantages


def awr_weights(advantages, temp, weight_clip):
    return torch.exp(advantages / temp).clamp(max=weight_clip)


class AWRAgent(BaseAgent):
    CONFIG_KEYS = dict(BaseAgent.CONFIG_KEYS, awr_temp=1.0, a_weight_clip=20.0, norm_adv_clip=4.0)

    def _update(self, buf):
        obs = buf.flat("obs")
        adv = normalize_advantages(buf.flat("advantage"), self.config["norm_adv_clip"])
        weights = awr_weights(adv, self.config["awr_temp"], self.config["a_weight_clip"])
        critic_loss = self._critic_update({"obs": obs, "return": buf.flat("return")})

        def weighted_log_likelihood(logp, mb):
            return -(mb["weight"] * logp).mean(), {}

        stats = self._actor_update({"obs": obs, "action": buf.flat("action"), "weight": weights},
                                   weighted_log_likelihood)
        stats["critic_loss"] = critic_loss
        stats["mean_weight"] = weights.mean().item()
        return stats
