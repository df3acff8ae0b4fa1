"""ASE (Peng et al. 2022): AMP with a latent z that selects the skill, and an encoder that makes the
latents mean something.

What ASE adds to AMP (``amp_agent.py``), with the env's latents (``ASEEnv``) at the end of each
observation, so the actor and the critic see z:

  1. the reward: r = task_reward_weight * r_task
                     + disc_reward_weight * (disc_reward_scale * r_style + enc_reward_scale * z . mu),
     mu = q(s, s') the encoder's output on the step's discriminator window, z the latent the step's
     action was taken with;
  2. the encoder's update, in the discriminator's minibatch steps (and optimizer): -E[z . mu] on the
     rollout's windows, times enc_loss_weight, plus its gradient penalty and weight decay;
  3. the diversity objective in the actor's loss (diversity_weight, diversity_tar).

The math is in ``encoder.py``. New log columns: enc_loss, enc_grad_penalty, enc_reward_mean,
diversity_loss, diversity_bonus.
"""
import torch

from mimickit.engines.engine import ConfigError
from mimickit.envs.ase_env import sample_unit_latents
from mimickit.learning.amp_agent import AMPAgent
from mimickit.learning.base_agent import CheckpointError, state_differences
from mimickit.learning.discriminator import gradient_penalty
from mimickit.learning.encoder import LatentEncoder, diversity_loss, encoder_loss, latent_match


class ASEAgent(AMPAgent):
    MODEL_KEYS = dict(AMPAgent.MODEL_KEYS, enc_net="fc_2layers_1024units")  # or "shared" (encoder.py)
    CONFIG_KEYS = dict(AMPAgent.CONFIG_KEYS, **{
        "enc_reward_scale": 1.0,
        "enc_loss_weight": 5.0,  # the encoder's loss against the discriminator's (ASE's enc_coef)
        "enc_grad_penalty": 0.0,
        "enc_weight_decay": 0.0,
        "diversity_weight": 0.01,
        "diversity_tar": 1.0,
    })

    def __init__(self, config, env, device=None, path="<agent config>"):
        if not hasattr(env, "latent_dim"):
            raise ConfigError("%s: agent_name ASE needs an env with latents (env_name ase); this env is %s"
                              % (path, type(env).__name__))
        super().__init__(config, env, device, path)
        self.latent_dim = env.latent_dim
        self.model.obs_norm.keep_as_is(env.latent_obs_slice)  # unit latents need no normalizing

    def _build_disc_companions(self):
        # D and the encoder train in the same minibatch steps, with one optimizer
        self.encoder = LatentEncoder(self.env.disc_obs_dim, self.env.latent_dim, self.model_config["enc_net"],
                                     self.model_config["activation"], disc=self.disc).to(self.device)

    def _disc_params(self):
        return super()._disc_params() + list(self.encoder.parameters())

    def latents_of(self, obs):
        """obs [..., obs_dim] -> the latents [..., latent_dim] it carries."""
        return obs[..., -self.latent_dim:]

    # ---------------- rewards ----------------
    @torch.no_grad()
    def encoder_reward(self, disc_obs, z):
        """disc_obs [B, F], latents z [B, D] -> enc_reward_scale * z . mu [B]."""
        mu = self.encoder(self.disc.obs_norm.normalize(disc_obs))
        return self.config["enc_reward_scale"] * latent_match(z, mu)

    def _style_reward_of(self, buf):
        T, N = buf["reward"].shape
        enc = self.encoder_reward(buf.flat("disc_obs"), self.latents_of(buf.flat("obs"))).view(T, N)
        buf.fields["enc_reward"] = enc
        return super()._style_reward_of(buf) + enc

    def _rollout_means(self, buf):
        return dict(super()._rollout_means(buf), enc_reward_mean=buf["enc_reward"].mean())

    # ---------------- the encoder's update (in D's minibatch steps) ----------------
    def _disc_extras(self, buf):
        return {"latent": self.latents_of(buf.flat("obs"))}

    def _disc_loss(self, mb):
        total, stats = super()._disc_loss(mb)
        c = self.config
        x = self.disc.obs_norm.normalize(mb["fake"])
        if c["enc_grad_penalty"] > 0:
            x.requires_grad_(True)
        with torch.autocast(self.device.type, torch.bfloat16, enabled=bool(c["disc_bf16"])):
            mu = self.encoder(x).float()
        loss = encoder_loss(mb["latent"], mu)
        total = total + c["enc_loss_weight"] * loss
        stats["enc_loss"] = loss
        if c["enc_grad_penalty"] > 0:
            penalty = gradient_penalty(latent_match(mb["latent"], mu), x)
            total = total + c["enc_grad_penalty"] * penalty
            stats["enc_grad_penalty"] = penalty
        if c["enc_weight_decay"] > 0:
            total = total + c["enc_weight_decay"] * sum(w.pow(2).sum() for w in self.encoder.weight_matrices())
        return total, stats

    # ---------------- diversity (in the actor's minibatch steps) ----------------
    def _actor_batch_extras(self, batch):
        if self.config["diversity_weight"] <= 0:
            return {}
        n = batch["obs"].shape[0]
        return {"div_latent": sample_unit_latents(n, self.latent_dim, self.device)}  # z' of each sample

    def _action_penalties(self, dist, mb):
        penalty, stats = super()._action_penalties(dist, mb)
        c = self.config
        if c["diversity_weight"] <= 0:
            return penalty, stats
        obs = mb["obs"]
        other_obs = torch.cat([obs[:, :-self.latent_dim], mb["div_latent"]], dim=-1)
        loss, bonus = diversity_loss(dist.mean, self.model.action_mean(other_obs), self.latents_of(obs),
                                     mb["div_latent"], c["diversity_tar"])
        stats.update(diversity_loss=loss, diversity_bonus=bonus)
        return penalty + c["diversity_weight"] * loss, stats

    # ---------------- checkpoints ----------------
    def _extra_state(self):
        return dict(super()._extra_state(), encoder=self.encoder.state_dict())

    def _load_extra_state(self, path, state, weights_only):
        if "disc" in state and "encoder" not in state and not weights_only:
            raise CheckpointError("%s: a discriminator but no encoder in this checkpoint (agent %s); ASE "
                                  "training cannot resume from it (--init_model_file starts from its policy)"
                                  % (path, state.get("agent_name")))
        enc_state = {k: v.float() for k, v in state.get("encoder", {}).items()}
        if enc_state and any(state_differences(enc_state, self.encoder.state_dict())):
            # before D's optimizer state, which would not fit either
            raise CheckpointError("%s: its encoder does not fit this agent's (%s: enc_net %s); a checkpoint of "
                                  "another enc_net (--init_model_file of its actor file starts from its policy)"
                                  % (path, self.path, self.model_config["enc_net"]))
        super()._load_extra_state(path, state, weights_only)
        if enc_state:
            self.encoder.load_state_dict(enc_state)
