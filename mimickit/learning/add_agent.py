"""ADD (Peng et al. 2025): AMP's discriminator on the difference between the simulated and the reference
state (``ADDEnv``), with perfect tracking, the zero difference, as its only positive sample.

The update, the objectives, the replay buffer and the graphed minibatch steps are AMP's (``amp_agent.py``);
what differs:

- the env's ``sample_disc_obs_demo`` returns zeros and the env pays no reward of its own, so the
  policy's reward is the discriminator's alone (``task_reward_weight`` 0, ``disc_reward_weight`` 1);
- D's normalizer divides each difference by its mean magnitude E|x| over the policy's differences, with no
  shift, so that perfect tracking stays the zero vector (a (x - mean) / std normalizer would move it, and a
  batch of zeros would shrink its scale);
- the gradient penalty is the mean of its value on the zero positives and on the policy's differences. On
  the zeros alone, D is free to rise as steeply as it likes between perfect and imperfect tracking: it
  then tells every policy difference from zero with certainty, its reward is flat at the floor and says
  nothing about which of two errors is worse. The penalty on the differences keeps D's slope bounded where
  the policy is, so that its reward falls gradually as the error grows.

The log keeps AMP's columns: ``disc_real_d`` is D on the zero difference, ``disc_fake_d`` on the policy's
differences, ``style_reward_mean`` the reward; test mode prints ``tracking_error_m`` as DeepMimic does.
"""
from mimickit.engines.engine import ConfigError
from mimickit.learning.amp_agent import AMPAgent


class ADDAgent(AMPAgent):
    NORMALIZE_ON_REAL = False  # the positives are all zero: they carry no scale
    DISC_SCALE_ONLY = True
    PENALIZE_FAKE = True

    def __init__(self, config, env, device=None, path="<agent config>"):
        if not hasattr(env, "get_disc_obs") or not hasattr(env, "ref_frame"):
            raise ConfigError("%s: agent_name ADD needs an env with differential observations (env_name add); "
                              "this env is %s" % (path, type(env).__name__))
        super().__init__(config, env, device, path)
