"""ADD (Peng et al. 2025): AMP's discriminator on the difference between the simulated and the reference
state (``ADDEnv``), with perfect tracking, the zero difference, as its only positive sample.

The update, the objectives, the gradient penalty (here on the zero positives: D stays flat around perfect
tracking), the replay buffer and the graphed minibatch steps are AMP's (``amp_agent.py``); what differs:

- the env's ``sample_disc_obs_demo`` returns zeros and the env pays no reward of its own, so the
  policy's reward is the discriminator's alone (``task_reward_weight`` 0, ``disc_reward_weight`` 1);
- D's normalizer learns the scale of the policy's differences only: a batch of zeros would shrink it.

The log keeps AMP's columns: ``disc_real_d`` is D on the zero difference, ``disc_fake_d`` on the policy's
differences, ``style_reward_mean`` the reward; test mode prints ``tracking_error_m`` as DeepMimic does.
"""
from mimickit.engines.engine import ConfigError
from mimickit.learning.amp_agent import AMPAgent


class ADDAgent(AMPAgent):
    NORMALIZE_ON_REAL = False  # the positives are all zero: they carry no scale

    def __init__(self, config, env, device=None, path="<agent config>"):
        if not hasattr(env, "get_disc_obs") or not hasattr(env, "ref_frame"):
            raise ConfigError("%s: agent_name ADD needs an env with differential observations (env_name add); "
                              "this env is %s" % (path, type(env).__name__))
        super().__init__(config, env, device, path)
