"""AWR, advantage-weighted regression (Peng et al. 2019): supervised regression of the policy onto
its own actions, each weighted by the exponentiated advantage.

    w(s, a)  = min(exp(A(s, a) / temp), a_weight_clip)
    L_actor  = -E[ w(s, a) log pi(a|s) ]  + action penalties
    L_critic = 0.5 E[ (V(s) - R)^2 ]
"""
import torch

from mimickit.learning.base_agent import BaseAgent, _step
from mimickit.learning.ppo_agent import normalize_advantages


def awr_weights(advantages, temp, weight_clip):
    return torch.exp(advantages / temp).clamp(max=weight_clip)


class AWRAgent(BaseAgent):
    CONFIG_KEYS = dict(BaseAgent.CONFIG_KEYS, awr_temp=1.0, a_weight_clip=20.0, norm_adv_clip=4.0)

    def _update(self, buf):
        obs, actions, returns = buf.flat("obs"), buf.flat("action"), buf.flat("return")
        adv = normalize_advantages(buf.flat("advantage"), self.config["norm_adv_clip"])
        weights = awr_weights(adv, self.config["awr_temp"], self.config["a_weight_clip"])
        critic_loss = self._critic_update(obs, returns)

        self.model.train()
        stats = {"actor_loss": 0.0, "action_bound_loss": 0.0, "entropy": 0.0}
        count = 0
        for _ in range(self.config["actor_epochs"]):
            for idx in self._minibatches(obs.shape[0], self.config["actor_batch_size"]):
                dist = self.model.dist(obs[idx])
                logp = dist.log_prob(actions[idx]).sum(-1)
                actor_loss = -(weights[idx] * logp).mean()
                penalty, pen_stats = self._action_penalties(dist)
                _step(self.actor_optimizer, actor_loss + penalty, self.model.actor_parameters())
                stats["actor_loss"] += actor_loss.item()
                for k, v in pen_stats.items():
                    stats[k] += v
                count += 1
        stats = {k: v / max(count, 1) for k, v in stats.items()}
        stats["critic_loss"] = critic_loss
        stats["mean_weight"] = weights.mean().item()
        return stats
