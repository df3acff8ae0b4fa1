"""AMP (Peng et al. 2021): PPO on a reward that a discriminator learns from a motion dataset.

Instead of tracking one clip (DeepMimic), the policy is paid for motion that a discriminator D cannot
tell from the dataset's. One training iteration:

  1. a PPO rollout of T steps in N envs, which also stores each step's discriminator observation
     disc_obs [T, N, F] (a window of the last few character states, from the env's info);
  2. the reward of every step, then GAE on it:
         r = task_reward_weight * r_task  +  disc_reward_weight * disc_reward_scale * r_style(D(disc_obs))
  3. PPO's update of actor and critic;
  4. D's update: disc_epochs passes over minibatches of disc_batch_size * N samples, each holding the
     rollout's samples ("fake"), as many from a replay buffer of earlier rollouts (also fake), and as
     many windows drawn from the dataset ("real", ``env.sample_disc_obs_demo``); the loss, reward and
     regularizers are in ``discriminator.py``.

D's update is a MinibatchStep like PPO's: replayed as a CUDA graph on the GPU, the gradient penalty's
double backward included. With ``disc_bf16`` its matrix products run in bfloat16 (torch.autocast;
about 1.3x faster steps on an H200 than TF32), while the parameters, Adam and the loss stay fp32.

Episode returns in the log (train_return, test_return) are sums of the env's task reward; the style
reward is logged per step as style_reward_mean (training) and test_style_reward (test episodes).
"""
import torch

from mimickit.engines.engine import ConfigError
from mimickit.learning.base_agent import CheckpointError, state_differences
from mimickit.learning.discriminator import (Discriminator, check_objective, disc_accuracy, disc_loss,
                                             disc_prob, gradient_penalty, style_reward)
from mimickit.learning.minibatch_step import MinibatchStep
from mimickit.learning.ppo_agent import PPOAgent
from mimickit.learning.replay_buffer import ReplayBuffer


class AMPAgent(PPOAgent):
    NORMALIZE_ON_REAL = True  # D's normalizer learns from the dataset's windows as well as the policy's
    DISC_SCALE_ONLY = False  # D's normalizer: (x - mean) / std, clipped (True: x / E|x|, ADD's)
    PENALIZE_FAKE = False  # the gradient penalty on the real samples (True: the mean of real and fake, ADD's)
    MODEL_KEYS = dict(PPOAgent.MODEL_KEYS, disc_net="fc_2layers_1024units")
    CONFIG_KEYS = dict(PPOAgent.CONFIG_KEYS, **{
        "disc_optimizer": {},
        "disc_objective": "logistic",  # or least_squares
        "disc_epochs": 2,
        "disc_batch_size": 2,  # minibatch = disc_batch_size * num_envs rollout samples (plus replay and real)
        "disc_buffer_size": 200000,  # replay buffer of past rollout samples
        "disc_replay_samples": 1000,  # rollout samples added to the full buffer per iteration (all until full)
        "disc_grad_penalty": 5.0,
        "disc_logit_reg": 0.01,
        "disc_weight_decay": 1e-4,
        "disc_reward_scale": 2.0,
        "disc_bf16": False,  # D's minibatch steps in bfloat16 autocast (parameters, Adam and the loss stay fp32)
        "task_reward_weight": 0.0,
        "disc_reward_weight": 1.0,
    })

    def __init__(self, config, env, device=None, path="<agent config>"):
        super().__init__(config, env, device, path)
        if not hasattr(env, "sample_disc_obs_demo"):
            raise ConfigError("%s: agent_name AMP needs an env with discriminator observations (env_name amp "
                              "or amp_steering); this env is %s" % (path, type(env).__name__))
        c = self.config
        check_objective(c["disc_objective"], path)
        for key in ("disc_epochs", "disc_buffer_size"):
            if int(c[key]) < 1:
                raise ConfigError("%s: %s is %r; expected at least 1" % (path, key, c[key]))
        self.disc = Discriminator(env.disc_obs_dim, self.model_config["disc_net"], self.model_config["activation"],
                                  normalizer_samples=c["normalizer_samples"],
                                  scale_only=self.DISC_SCALE_ONLY).to(self.device)
        self._build_disc_companions()
        self.disc_optimizer = self._make_optimizer("disc_optimizer", self._disc_params())
        self.replay = ReplayBuffer(c["disc_buffer_size"], env.disc_obs_dim, self.device)
        self._disc_step = None  # MinibatchStep, made on first use
        self._disc_trained = False  # whether D's style reward means anything (trained here, or loaded)

    def _build_disc_companions(self):
        """Networks that train beside D, in its minibatch steps and with its optimizer (ASE: the encoder)."""

    def _disc_params(self):
        """The parameters D's minibatch steps train (ASE adds its encoder's)."""
        return list(self.disc.parameters())

    # ---------------- rewards ----------------
    @torch.no_grad()
    def style_reward(self, disc_obs):
        """disc_obs [B, F] -> disc_reward_scale * r_style [B] under the current discriminator."""
        self.disc.eval()
        d = self.disc.output(disc_obs)
        return self.config["disc_reward_scale"] * style_reward(self.config["disc_objective"], d)

    def _record_step(self, buf, info):
        buf.add("disc_obs", info["disc_obs"])

    def _style_reward_of(self, buf):
        """[T, N] what disc_reward_weight multiplies: the style reward of the rollout's windows."""
        T, N = buf["reward"].shape
        style = self.style_reward(buf.flat("disc_obs")).view(T, N)
        buf.fields["style_reward"] = style
        return style

    def _finish_rollout(self, buf):
        c = self.config
        buf.fields["task_reward"] = buf["reward"]
        buf.fields["reward"] = c["task_reward_weight"] * buf["reward"] + c["disc_reward_weight"] * self._style_reward_of(buf)
        super()._finish_rollout(buf)

    # ---------------- update ----------------
    def _update(self, buf):
        stats = super()._update(buf)  # PPO on the combined reward
        disc_stats = self._disc_update(buf.flat("disc_obs"), self._disc_extras(buf))
        disc_stats.update(self._rollout_means(buf))
        values = torch.stack([v.float() for v in disc_stats.values()]).tolist()  # one host round trip
        stats.update(zip(disc_stats, values))
        return stats

    def _rollout_means(self, buf):
        """{stat: tensor} of the rollout for the log."""
        return {"task_reward_mean": buf["task_reward"].mean(), "style_reward_mean": buf["style_reward"].mean()}

    def _disc_extras(self, buf):
        """{name: [S, ...]} per-sample inputs that go along with the rollout's windows into D's minibatches."""
        return {}

    def _disc_update(self, fake, extras=None):
        """fake [S, F]: the rollout's disc observations; extras: {name: [S, ...]} that go with them.
        -> {stat: tensor} averaged over D's minibatches."""
        c, n = self.config, fake.shape[0]
        real = self.env.sample_disc_obs_demo(n)  # [S, F]
        if self.NORMALIZE_ON_REAL:
            self.disc.obs_norm.update(real)
        self.disc.obs_norm.update(fake)
        keep = fake if not self.replay.full else fake[torch.randperm(n, device=self.device)[:c["disc_replay_samples"]]]
        self.replay.push(keep)
        replay = self.replay.sample(n)  # [S, F]
        if self._disc_step is None:
            self._disc_step = MinibatchStep(self._disc_loss, self.disc_optimizer, self._disc_params(),
                                            self._use_graphs)
        self.disc.train()
        batch = dict(extras or {}, real=real, fake=fake, replay=replay)
        means = self._run_epochs(self._disc_step, batch, c["disc_epochs"], c["disc_batch_size"])
        means.pop("loss")  # L_D plus the regularizers; its parts are in the stats
        self._disc_trained = True
        return means

    def _disc_loss(self, mb):
        """One minibatch {"real", "fake", "replay"} [M, F] -> (L_D plus regularizers, {stat: tensor})."""
        c, objective = self.config, self.config["disc_objective"]
        x_real = self.disc.obs_norm.normalize(mb["real"]).requires_grad_(True)
        x_fake = self.disc.obs_norm.normalize(torch.cat([mb["fake"], mb["replay"]]))
        if self.PENALIZE_FAKE:
            x_fake.requires_grad_(True)
        with torch.autocast(self.device.type, torch.bfloat16, enabled=bool(c["disc_bf16"])):
            # two passes, not one over all 3M windows: the penalty's double backward then runs over the
            # M real windows only (through a joint pass it would run over all 3M)
            d_real, d_fake = self.disc(x_real).float(), self.disc(x_fake).float()
            penalty = gradient_penalty(d_real, x_real)
            if self.PENALIZE_FAKE:
                penalty = 0.5 * (penalty + gradient_penalty(d_fake, x_fake))
        loss = disc_loss(objective, d_real, d_fake)
        logit_reg = self.disc.logit_weights().pow(2).sum()
        decay = sum(w.pow(2).sum() for w in self.disc.weight_matrices())
        total = loss + c["disc_grad_penalty"] * penalty + c["disc_logit_reg"] * logit_reg \
            + c["disc_weight_decay"] * decay
        acc_real, acc_fake = disc_accuracy(d_real, d_fake)
        return total, {"disc_loss": loss, "disc_grad_penalty": penalty, "disc_real_acc": acc_real,
                       "disc_fake_acc": acc_fake, "disc_real_d": disc_prob(objective, d_real).mean(),
                       "disc_fake_d": disc_prob(objective, d_fake).mean()}

    # ---------------- testing ----------------
    def _step_metrics(self, info):
        metrics = super()._step_metrics(info)
        if self._disc_trained:  # an actor-only model has no discriminator to judge its motion
            metrics["test_style_reward"] = (self.style_reward(info["disc_obs"]), None)
        return metrics

    # ---------------- checkpoints ----------------
    def _extra_state(self):
        return {"disc": self.disc.state_dict(), "disc_optimizer": self.disc_optimizer.state_dict(),
                "disc_obs_dim": self.env.disc_obs_dim}

    def _load_extra_state(self, path, state, weights_only):
        if "disc" not in state:
            if weights_only:
                return  # e.g. a PPO checkpoint's policy to start from: D starts fresh
            raise CheckpointError("%s: no discriminator in this checkpoint (agent %s); AMP training cannot "
                                  "resume from it (--init_model_file starts from its policy)"
                                  % (path, state.get("agent_name")))
        if state.get("disc_obs_dim") != self.env.disc_obs_dim:
            raise CheckpointError("%s: the discriminator expects disc_obs_dim %s; this env has %d (num_disc_obs_steps "
                                  "or key_bodies differ)" % (path, state.get("disc_obs_dim"), self.env.disc_obs_dim))
        disc_state = {k: v.float() if v.is_floating_point() else v for k, v in state["disc"].items()}
        missing, extra, reshaped = state_differences(disc_state, self.disc.state_dict())
        if missing or extra or reshaped:
            raise CheckpointError("%s: its discriminator does not fit this agent's (%s; missing %s, unexpected %s, or "
                                  "other shapes): disc_net or the normalizer differ, e.g. a checkpoint of another "
                                  "agent or version (--init_model_file starts from its policy)"
                                  % (path, self.path, missing or "none", extra or "none"))
        self.disc.load_state_dict(disc_state)
        if not weights_only:
            self.disc_optimizer.load_state_dict(state["disc_optimizer"])
            self._disc_step = None  # a captured graph points at the old optimizer state
        self._disc_trained = True
