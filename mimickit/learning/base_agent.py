"""BaseAgent: the train / test loop shared by PPO and AWR.

One training iteration:
  1. roll the stochastic policy out for ``steps_per_iter`` steps in all N envs (the buffer holds
     [T, N] observations, actions, log-probs, rewards, values and done flags);
  2. compute TD(lambda) returns and advantages (``returns.compute_gae``), bootstrapping from the
     critic on time-outs and not on failures;
  3. ``_update`` (the subclass's algorithm) fits the actor and the critic to the buffer.
Every ``iters_per_output`` iterations it runs ``test_episodes`` deterministic episodes, writes a log
row and saves a checkpoint (weights, normalizer, optimizers, counters) that ``--model_file`` resumes.
"""
import math
import os
import time

import torch

from mimickit.engines.engine import ConfigError, check_keys
from mimickit.envs.base_env import DoneFlags
from mimickit.learning import checkpoint_precision, distributed
from mimickit.learning.experience_buffer import ExperienceBuffer
from mimickit.learning.logger import Logger
from mimickit.learning.minibatch_step import MinibatchStep, graphs_enabled
from mimickit.learning.models import ActorCritic
from mimickit.learning.returns import compute_gae

MODEL_KEYS = {"actor_net": "fc_2layers_1024units", "critic_net": "fc_2layers_1024units",
              "activation": "relu", "action_std": 0.05, "learn_action_std": False}
OPTIM_KEYS = {"type": "Adam", "learning_rate": 3e-4, "momentum": 0.9, "weight_decay": 0.0,
              "grad_clip": None}


# train_iteration's stats that describe the rollout rather than the update
ROLLOUT_STATS = ("mean_reward", "episode_return", "episode_length", "episodes")


class CheckpointError(ValueError):
    pass


def state_differences(saved, mine):
    """A saved state dict against a module's -> (missing keys, unexpected keys, keys of another shape), sorted:
    all empty when the saved one loads."""
    missing, extra = sorted(set(mine) - set(saved)), sorted(set(saved) - set(mine))
    reshaped = sorted(k for k in set(saved) & set(mine) if tuple(saved[k].shape) != tuple(mine[k].shape))
    return missing, extra, reshaped


def value_loss(values, returns):
    """The critic's loss 0.5 E[(V(s) - R)^2] of values [B] against TD(lambda) returns [B]."""
    return 0.5 * (values - returns).pow(2).mean()


class BaseAgent:
    MODEL_KEYS = MODEL_KEYS  # the keys of the config's model section; subclasses may add their own networks
    CONFIG_KEYS = {
        "agent_name": None, "model": {}, "actor_optimizer": {}, "critic_optimizer": {},
        "discount": 0.99, "td_lambda": 0.95, "steps_per_iter": 32, "iters_per_output": 10,
        "test_episodes": 32, "normalizer_samples": 100000000,
        "actor_epochs": 5, "actor_batch_size": 4, "critic_epochs": 2, "critic_batch_size": 2,
        "action_bound_weight": 10.0, "action_entropy_weight": 0.0, "action_reg_weight": 0.0,
        "cuda_graphs": True,  # on CUDA, replay each minibatch step as a CUDA graph (MIMICKIT_CUDA_GRAPHS=0: off)
        # samples at the start of a run during which the actor's steps are undone: a run started from an actor
        # file (fresh critic, and for AMP/ASE a fresh discriminator and encoder) lets those fit the policy first
        "actor_hold_samples": 0,
    }

    def __init__(self, config, env, device=None, path="<agent config>"):
        check_keys(config, self.CONFIG_KEYS, path, required=("agent_name",))
        self.config = dict(self.CONFIG_KEYS)
        self.config.update(config)
        self.path = path
        self.env = env
        self.device = torch.device(device if device is not None else env.device)  # default: where env tensors live
        self._use_graphs = graphs_enabled(self.device, self.config["cuda_graphs"])
        self._actor_step = self._critic_step = None  # MinibatchSteps, made on first use
        self.model_config = self._sub_config("model", self.MODEL_KEYS)
        self.model = ActorCritic(env.obs_dim, env.act_dim, normalizer_samples=self.config["normalizer_samples"],
                                 **{k: self.model_config[k] for k in MODEL_KEYS}).to(self.device)
        self.actor_optimizer = self._make_optimizer("actor_optimizer", self.model.actor_parameters())
        self.critic_optimizer = self._make_optimizer("critic_optimizer", self.model.critic_parameters())
        low, high = env.action_bounds()
        self.action_low = torch.as_tensor(low, device=self.device)
        self.action_high = torch.as_tensor(high, device=self.device)
        self.iteration = 0
        self.sample_count = 0
        self.wall_time = 0.0  # training seconds, carried across resumes
        self.prior_samples = 0  # samples of the runs behind the weights this run started from (--init_model_file)
        if self.device.type == "cuda":
            # TF32 tensor cores for the MLPs' matrix products (~8x fp32 throughput, 10-bit mantissa)
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True

    # ---------------- config helpers ----------------
    def _sub_config(self, key, defaults):
        sub = self.config.get(key) or {}
        check_keys(sub, defaults, "%s: %s" % (self.path, key))
        out = dict(defaults)
        out.update(sub)
        return out

    def _make_optimizer(self, key, params):
        cfg = self._sub_config(key, OPTIM_KEYS)
        lr = float(cfg["learning_rate"])
        if cfg["type"] == "Adam":
            # capturable: the step count stays on the device, so the step can be replayed as a CUDA graph
            opt = torch.optim.Adam(params, lr=lr, weight_decay=cfg["weight_decay"], capturable=self._use_graphs)
        elif cfg["type"] == "SGD":
            opt = torch.optim.SGD(params, lr=lr, momentum=cfg["momentum"], weight_decay=cfg["weight_decay"])
        else:
            raise ConfigError("%s: %s.type '%s'; expected SGD or Adam" % (self.path, key, cfg["type"]))
        opt.grad_clip = cfg["grad_clip"]
        return opt

    # ---------------- training ----------------
    def train(self, max_samples, out_model_file, log_file, logger="txt", progress=True, int_output_dir=None):
        """Train until max_samples env steps (None: until stopped); checkpoint to out_model_file
        every output step. int_output_dir: also keep that step's actor as int_output_dir/model_actor_<iteration>.pt,
        so that a run whose test metric wanders can be judged at its best logged step, not only its last."""
        main = distributed.is_main()  # several workers (distributed.py): rank 0 alone logs and saves
        log = Logger(log_file, logger) if main else None
        distributed.broadcast_modules(self._synced_modules())  # every worker starts from rank 0's weights
        obs, _ = self.env.reset()
        bar = _progress_bar(progress and main, max_samples, self.sample_count)
        start = time.time() - self.wall_time
        episodes = EpisodeStats(self.device)  # training episodes since the last output
        try:
            while max_samples is None or self.sample_count < max_samples:
                obs, stats = self.train_iteration(obs, episodes)
                self.wall_time = time.time() - start
                if bar is not None:
                    bar.update(self.config["steps_per_iter"] * self.env.num_envs * distributed.world_size())
                last = max_samples is not None and self.sample_count >= max_samples
                if self.iteration % self.config["iters_per_output"] == 0 or last:
                    losses = {k: v for k, v in stats.items() if k not in ROLLOUT_STATS}
                    self._output(log, losses, episodes, out_model_file, bar, int_output_dir)
                    episodes = EpisodeStats(self.device)
                    obs, _ = self.env.reset()  # testing used the envs
                    start = time.time() - self.wall_time
        finally:
            if bar is not None:
                bar.close()
            if log is not None:
                log.close()

    def train_iteration(self, obs, episodes=None):
        """One iteration: steps_per_iter steps of every env with the stochastic policy, then the update.

        obs [N, obs_dim]: the envs' current observation. Episodes that end during the rollout are added
        to episodes (an EpisodeStats) when given. -> (next obs, stats): the update's losses, the mean
        reward of the rollout and the mean return / length (s) of the episodes that ended in it."""
        T = self.config["steps_per_iter"]
        rollout_episodes = EpisodeStats(self.device)
        buf, obs = self._rollout(obs, T, rollout_episodes)
        losses = self._update(buf)
        self.iteration += 1
        self.sample_count += T * self.env.num_envs * distributed.world_size()  # every worker's samples
        if episodes is not None:
            episodes.sums += rollout_episodes.sums
        ep = rollout_episodes.summary(self.env.dt)
        stats = dict(losses, mean_reward=float(buf["reward"].mean()), episode_return=ep["mean_return"],
                     episode_length=ep["mean_episode_length"], episodes=ep["episodes"])
        return obs, stats

    def _synced_modules(self):
        """The networks (and their normalizers) every worker must hold identically: model, D, encoder..."""
        return [m for m in vars(self).values() if isinstance(m, torch.nn.Module)]

    def _output(self, log, losses, episodes, out_model_file, bar, int_output_dir=None):
        test = self.test(self.config["test_episodes"])
        train = episodes.reduce().summary(self.env.dt)
        if distributed.active():  # the workers' mean of each loss; their parameters must still agree
            mean = distributed.sum_(torch.tensor(list(losses.values()), dtype=torch.float64, device=self.device))
            losses = dict(zip(losses, (mean / distributed.world_size()).tolist()))
            distributed.check_in_sync(self._synced_modules())
        if log is None:
            return
        log.log("iteration", self.iteration)
        log.log("samples", self.sample_count)
        log.log("wall_time", self.wall_time)
        log.log("train_return", train["mean_return"])
        log.log("train_episode_length", train["mean_episode_length"])
        log.log("test_return", test["mean_return"])
        log.log("test_episode_length", test["mean_episode_length"])
        for name in test["metrics"]:
            log.log(name, test[name])
        for k, v in losses.items():
            log.log(k, v)
        if out_model_file:  # before the log row: a run killed in between never logs an unsaved iteration
            self.save(out_model_file)
            self.save_actor(os.path.splitext(out_model_file)[0] + "_actor.pt")
        if int_output_dir:
            self.save_actor(os.path.join(int_output_dir, "model_actor_%06d.pt" % self.iteration))
        row = log.write(self.sample_count)
        msg = "iter %d samples %d test_return %.3f test_len %.2f" % (
            self.iteration, self.sample_count, row["test_return"], row["test_episode_length"])
        if bar is not None:
            bar.write(msg)
        else:
            print(msg, flush=True)

    def _rollout(self, obs, num_steps, episodes):
        """Collect [T, N] experience with the stochastic policy; returns (buffer, next obs). Finished
        episodes are added to episodes (an EpisodeStats); nothing here waits for the GPU."""
        buf = ExperienceBuffer(num_steps, self.env.num_envs, self.device)
        self.model.eval()
        while not buf.full:
            self.model.obs_norm.update(obs)
            action, logp = self.model.act(obs)
            with torch.no_grad():
                value = self.model.value(obs)
            next_obs, reward, done, info = self.env.step(action)
            with torch.no_grad():
                # the value of where the step ended, before any reset: the bootstrap on time-outs
                next_value = self.model.value(info["terminal_obs"])
            for name, v in (("obs", obs), ("action", action), ("logp", logp), ("value", value),
                            ("reward", reward), ("next_value", next_value),
                            ("terminated", (done == DoneFlags.FAIL) | (done == DoneFlags.SUCC)),
                            ("truncated", done == DoneFlags.TIME)):
                buf.add(name, v)
            self._record_step(buf, info)
            buf.advance()
            episodes.add(done, info)
            obs = next_obs
        self.env.check_errors()  # masked (GPU) stepping flags errors on the device: raise them now
        self._finish_rollout(buf)
        return buf, obs

    def _record_step(self, buf, info):
        """Subclasses store what else they need of a step's info in buf (e.g. AMP: disc_obs)."""

    def _finish_rollout(self, buf):
        """After the rollout: TD(lambda) returns and advantages of buf["reward"] [T, N] (a subclass may
        replace the env's reward there first, e.g. AMP adds its style reward)."""
        adv, ret = compute_gae(buf["reward"], buf["value"], buf["next_value"], buf["terminated"],
                               buf["truncated"], self.config["discount"], self.config["td_lambda"])
        buf.fields["advantage"], buf.fields["return"] = adv, ret

    def _update(self, buf):
        """Fit actor and critic to the buffer; returns {loss name: value} for the log."""
        raise NotImplementedError

    # ---------------- shared loss pieces ----------------
    def _minibatches(self, num_samples, batch_envs):
        """Shuffled index batches of batch_envs * num_envs samples (MimicKit's batch size unit)."""
        size = max(1, int(batch_envs * self.env.num_envs))
        perm = torch.randperm(num_samples, device=self.device)
        return [perm[i:i + size] for i in range(0, num_samples, size)]

    def _critic_update(self, batch):
        """0.5 (V(s) - R)^2 over critic_epochs of minibatches of batch {"obs", "return"} [S, ...];
        returns the mean loss."""
        if self._critic_step is None:
            def critic_loss(mb):
                return value_loss(self.model.value(mb["obs"]), mb["return"]), {}
            self._critic_step = MinibatchStep(critic_loss, self.critic_optimizer, self.model.critic_parameters(),
                                              self._use_graphs)
        self.model.train()
        means = self._run_epochs(self._critic_step, batch, self.config["critic_epochs"],
                                 self.config["critic_batch_size"])
        return float(means["loss"])  # one host round trip

    def _actor_update(self, batch, objective):
        """actor_epochs of minibatch steps on objective(logp [M], minibatch) -> (loss, {stat: tensor}),
        plus the action penalties. batch: {"obs", "action", and what objective reads} [S, ...], of
        which each minibatch holds [M, ...] rows. Returns the mean of every stat and of the objective.
        The step is built around the first objective given (on CUDA it is captured as a graph), so
        an objective reads per-sample data from the minibatch, never from tensors it closes over."""
        if self._actor_step is None:
            def actor_loss(mb):
                dist = self.model.dist(mb["obs"])
                logp = dist.log_prob(mb["action"]).sum(-1)
                loss, stats = objective(logp, mb)
                penalty, pen_stats = self._action_penalties(dist, mb)
                return loss + penalty, dict(stats, actor_loss=loss, **pen_stats)
            self._actor_step = MinibatchStep(actor_loss, self.actor_optimizer, self.model.actor_parameters(),
                                             self._use_graphs)
        self.model.train()
        batch = dict(batch, **self._actor_batch_extras(batch))
        held = self.sample_count < self.config["actor_hold_samples"]
        if held:
            before = [p.detach().clone() for p in self._actor_step.params]
        means = self._run_epochs(self._actor_step, batch, self.config["actor_epochs"], self.config["actor_batch_size"])
        if held:  # the losses are real (logged as usual); the steps are undone
            self._undo_actor_steps(before)
        means.pop("loss")  # the objective plus the penalties; its parts are in the stats
        values = torch.stack(list(means.values())).tolist() if means else []  # one host round trip
        return dict(zip(means, values))

    def _undo_actor_steps(self, before):
        """Put the actor's parameters back to before [tensors, as MinibatchStep.params] and zero Adam's state in
        place (a captured graph keeps its addresses), so the first real step starts from a fresh optimizer."""
        with torch.no_grad():
            for p, b in zip(self._actor_step.params, before):
                p.copy_(b)
            for state in self.actor_optimizer.state.values():
                for v in state.values():
                    if torch.is_tensor(v):
                        v.zero_()

    def _run_epochs(self, step, batch, epochs, batch_envs):
        """`epochs` passes of step (a MinibatchStep) over shuffled minibatches of batch {name: [S, ...]}
        -> {"loss" and each stat: its mean over the minibatches, a tensor}. Summed on the device: no host
        round trip per minibatch."""
        totals, count = {}, 0
        for _ in range(epochs):
            for idx in self._minibatches(next(iter(batch.values())).shape[0], batch_envs):
                loss, stats = step(_gather(batch, idx))
                for k, v in dict(stats, loss=loss).items():  # the step overwrites its outputs: add, don't keep
                    totals[k] = totals[k] + v.float() if k in totals else v.float().clone()
                count += 1
        return {k: v / max(count, 1) for k, v in totals.items()}

    def _actor_batch_extras(self, batch):
        """{name: [S, ...]} a subclass adds to the actor's batch (per-sample inputs of its penalties)."""
        return {}

    def _action_penalties(self, dist, mb):
        """Bound penalty keeps mu inside the action range; entropy and L2 regularizers by weight.
        dist: the policy on the minibatch mb; subclasses may add terms (e.g. ASE's diversity)."""
        mean = dist.mean
        bound = ((mean - self.action_high).clamp_min(0).pow(2)
                 + (self.action_low - mean).clamp_min(0).pow(2)).sum(-1).mean()
        entropy = dist.entropy().sum(-1).mean()
        reg = mean.pow(2).sum(-1).mean()
        c = self.config
        penalty = c["action_bound_weight"] * bound - c["action_entropy_weight"] * entropy \
            + c["action_reg_weight"] * reg
        return penalty, {"action_bound_loss": bound, "entropy": entropy}

    # ---------------- testing ----------------
    @torch.no_grad()
    def test(self, num_episodes):
        """num_episodes deterministic episodes -> summary dict: the episode means of EpisodeStats.summary,
        and the mean over those episodes' steps of each of the env's test metrics (e.g. tracking_error_m),
        whose names are listed under "metrics".

        Episodes are counted without bias: each round resets every env and counts the first episode of
        envs 0..k-1 alone (k = the episodes still wanted, at most num_envs). Counting the first episodes
        to *end* instead would count the falls first: with 4096 envs and 256 test episodes, the 256
        earliest falls, whatever the policy's fall rate."""
        self.model.eval()
        self.env.set_mode("test")
        try:
            episodes, metrics = EpisodeStats(self.device), MetricMeans()
            env_ids = torch.arange(self.env.num_envs, device=self.device)
            left = num_episodes
            while left > 0:
                obs, _ = self.env.reset()
                counting = env_ids < min(left, self.env.num_envs)  # [N] envs in their counted episode
                self.env.count_episodes_of(counting)
                while bool(counting.any()):  # one host round trip per step
                    action, _ = self.model.act(obs, deterministic=True)
                    obs, _, done, info = self.env.step(action)
                    metrics.add(self._step_metrics(info), counting)
                    episodes.add(done, info, counting)
                    counting = counting & (done == DoneFlags.NULL)
                left -= min(left, self.env.num_envs)
            self.env.check_errors()
        finally:
            self.env.count_episodes_of(None)
            self.env.set_mode("train")
        out = episodes.reduce().summary(self.env.dt)  # every worker's episodes (distributed training)
        means = metrics.reduce().means()
        out.update(means, metrics=list(means))
        return out

    def _step_metrics(self, info):
        """{name: (values [N], valid [N] bool or None)} of one test step: the env's test metrics, whose
        values it puts in info (and, where only some steps count, a mask in info[name + "_valid"])."""
        return {name: (info[name], info.get(name + "_valid")) for name in self.env.test_metrics}

    # ---------------- checkpoints ----------------
    def _checkpoint_info(self):
        """What every checkpoint (full or actor-only) says besides its weights: counters and the env it fits."""
        return {"iteration": self.iteration, "sample_count": self.sample_count, "prior_samples": self.prior_samples,
                "wall_time": self.wall_time, "agent_name": self.config["agent_name"], "obs_dim": self.env.obs_dim,
                "act_dim": self.env.act_dim, "char_file": getattr(self.env, "char_file", None)}

    def restore_counters(self, state):
        """Take the training counters of a checkpoint's state (those _checkpoint_info wrote) as this agent's."""
        self.iteration = int(state["iteration"])
        self.sample_count = int(state["sample_count"])
        self.prior_samples = int(state.get("prior_samples", 0))  # absent before checkpoints counted them
        self.wall_time = float(state.get("wall_time", 0.0))

    def save(self, path):
        os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
        state = {"model": self.model.state_dict(), "actor_optimizer": self.actor_optimizer.state_dict(),
                 "critic_optimizer": self.critic_optimizer.state_dict(), **self._checkpoint_info()}
        state.update(self._extra_state())
        tmp = str(path) + ".tmp"
        torch.save(state, tmp)
        os.replace(tmp, path)  # a run killed mid-save keeps the previous checkpoint

    def save_actor(self, path, precision="fp16"):
        """Actor-only checkpoint for playback: policy weights (fp16 by default, or fp32 or int8: see
        checkpoint_precision.py) and the observation normalizer; no critic, no optimizer. ``load`` reads it for
        ``--mode test``."""
        keep = {k: v for k, v in self.model.state_dict().items() if not k.startswith("critic")}
        keep, int8_scales = checkpoint_precision.quantize(keep, precision)
        state = {"model": keep, "int8_scales": int8_scales, "actor_only": True, **self._checkpoint_info(),
                 "model_config": self.model_config}
        os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
        torch.save(state, str(path))

    def load(self, path, weights_only=False):
        """Restore a checkpoint; weights_only skips optimizers and counters (e.g. for testing). -> its state dict."""
        if not os.path.isfile(str(path)):
            raise FileNotFoundError("model file not found: %s" % path)
        state = torch.load(str(path), map_location=self.device, weights_only=True)
        dims = (state.get("obs_dim"), state.get("act_dim"))
        if dims != (self.env.obs_dim, self.env.act_dim):
            raise CheckpointError(
                "%s: checkpoint expects obs_dim %s and act_dim %s (character %s); this env has %d and %d "
                "(character %s)" % (path, dims[0], dims[1], state.get("char_file"), self.env.obs_dim,
                                    self.env.act_dim, getattr(self.env, "char_file", None)))
        model_state = checkpoint_precision.dequantize(state["model"], state.get("int8_scales"))
        if "actor_mean.weight" not in model_state:
            raise CheckpointError("%s: not a MimicKit actor-critic checkpoint" % path)
        shapes = {k: tuple(v.shape) for k, v in self.model.state_dict().items()}
        wrong = [k for k, v in model_state.items() if k in shapes and tuple(v.shape) != shapes[k]]
        if wrong:
            raise CheckpointError("%s: layer shapes differ from this agent's model config (%s): %s"
                                  % (path, self.path, ", ".join(wrong[:4])))
        missing = self.model.load_state_dict(model_state, strict=False)
        if missing.unexpected_keys or [k for k in missing.missing_keys if not k.startswith("critic")]:
            raise CheckpointError("%s: checkpoint does not match this model (missing %s, unexpected %s)"
                                  % (path, missing.missing_keys, missing.unexpected_keys))
        if state.get("actor_only") and not weights_only:
            raise CheckpointError("%s: an actor-only checkpoint (for --mode test) cannot resume training"
                                  % path)
        if state.get("slim") and not weights_only:
            raise CheckpointError("%s: a slim checkpoint (no optimizer state) cannot resume training; start "
                                  "from it with --init_model_file" % path)
        if not weights_only and "actor_optimizer" in state:
            self.actor_optimizer.load_state_dict(state["actor_optimizer"])
            self.critic_optimizer.load_state_dict(state["critic_optimizer"])
            self._actor_step = self._critic_step = None  # captured graphs point at the old optimizer state
            self.restore_counters(state)
        if not state.get("actor_only"):
            self._load_extra_state(path, state, weights_only)
        return state

    def start_from(self, path):
        """Start training from a checkpoint's weights (--init_model_file): its actor, critic and normalizer, with
        fresh optimizers and counters. A fixed (not learned) action std is a setting of this run, named in its
        config, so the config's std replaces the checkpoint's; a learned one carries over as a weight. The samples
        behind the weights are kept as prior_samples, so checkpoints count a model's samples in all."""
        state = self.load(path, weights_only=True)
        self.prior_samples = int(state.get("prior_samples", 0)) + int(state.get("sample_count", 0))
        if self.model.log_std.requires_grad:
            return
        config_std = float(self.model_config["action_std"])
        saved_std = float(self.model.log_std.exp().mean())
        if abs(saved_std - config_std) > 1e-3 * config_std:  # fp16 checkpoints store 0.05 as 0.04999
            print("%s: action std %.4g (the checkpoint's was %.4g)" % (self.path, config_std, saved_std))
        with torch.no_grad():
            self.model.log_std.fill_(math.log(config_std))

    def _extra_state(self):
        """{key: value} a subclass adds to full checkpoints (e.g. AMP: the discriminator)."""
        return {}

    def _load_extra_state(self, path, state, weights_only):
        """Restores what _extra_state saved, from a full checkpoint's state dict."""


class EpisodeStats:
    """Sums over finished episodes, kept on the device: count, returns, lengths, full-length ones."""

    def __init__(self, device):
        self.sums = torch.zeros(4, dtype=torch.float64, device=device)  # count, return, length (steps), full

    def add(self, done, info, mask=None):
        """done [N] DoneFlags and info (final_return / final_length [N]) of one env step; mask [N] bool:
        count only these envs' episodes (None: all)."""
        ended, full = done != DoneFlags.NULL, done == DoneFlags.TIME
        if mask is not None:
            ended, full = ended & mask, full & mask
            info = {k: torch.where(mask, info[k], torch.zeros_like(info[k])) for k in ("final_return", "final_length")}
        self.sums += torch.stack([ended.sum(), info["final_return"].sum(), info["final_length"].sum(),
                                  full.sum()]).to(self.sums.dtype)

    def count(self):
        return int(self.sums[0])

    def reduce(self):
        """Sum over the workers of a distributed run (no-op on one) -> self."""
        distributed.sum_(self.sums)
        return self

    def summary(self, dt):
        """-> mean_return, mean_episode_length (seconds), full_episode_frac, episodes."""
        n, ret, length, full = self.sums.tolist()
        nan = float("nan")
        return {"mean_return": ret / n if n else nan, "mean_episode_length": length * dt / n if n else nan,
                "full_episode_frac": full / max(n, 1), "episodes": int(n)}


class MetricMeans:
    """Running means of per-step metrics, summed on the device: {name: (values [N], valid [N] or None)}."""

    def __init__(self):
        self.sums = {}  # name -> [2] (sum, count)

    def add(self, values, mask=None):
        """values: {name: (values [N], valid [N] bool or None)}; mask [N] bool: only these envs' steps count."""
        for name, (v, valid) in values.items():
            v = v.float()
            w = torch.ones_like(v) if valid is None else valid.float()
            if mask is not None:
                w = w * mask.float()
            s = torch.stack([(v * w).sum(), w.sum()])
            self.sums[name] = self.sums[name] + s if name in self.sums else s

    def reduce(self):
        """Sum over the workers of a distributed run (no-op on one) -> self."""
        if distributed.active() and self.sums:
            total = distributed.sum_(torch.stack(list(self.sums.values())).double())
            self.sums = dict(zip(self.sums, total.unbind(0)))
        return self

    def means(self):
        """{name: mean over the valid steps} (NaN where none was valid); one host round trip."""
        if not self.sums:
            return {}
        sums = torch.stack(list(self.sums.values())).tolist()
        return {name: (s / c if c else float("nan")) for name, (s, c) in zip(self.sums, sums)}


def _gather(batch, idx):
    """{name: [S, ...]} -> {name: [M, ...]}, the rows idx [M]."""
    return {k: v.index_select(0, idx) for k, v in batch.items()}


def _progress_bar(enabled, total, initial):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    if total is None:
        return tqdm(initial=int(initial), unit="samples", dynamic_ncols=True)
    return tqdm(total=int(total), initial=int(min(initial, total)), unit="samples", dynamic_ncols=True)
