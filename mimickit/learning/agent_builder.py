"""Agent named by an agent YAML's agent_name."""
import os

from mimickit.engines.engine import ConfigError, load_layered_config


def build_agent(config_file, env, device=None, model_file=None):
    """The agent of config_file. With model_file, a checkpoint that records its network
    (``model_config``, as actor-only exports do) sets the network, so a model trained with another
    agent YAML (e.g. the GPU one) plays with this one. The agent lives on the env's device unless
    `device` says otherwise."""
    config = load_layered_config(config_file)
    if model_file and os.path.isfile(str(model_file)):
        import torch
        state = torch.load(str(model_file), map_location="cpu", weights_only=True)
        if state.get("model_config"):
            from mimickit.learning.base_agent import MODEL_KEYS
            # the actor-critic's networks; other networks of the YAML's model section (e.g. AMP's disc_net) stay
            recorded = {k: v for k, v in state["model_config"].items() if k in MODEL_KEYS}
            config["model"] = dict(config.get("model") or {}, **recorded)
    name = config.get("agent_name")
    if name == "PPO":
        from mimickit.learning.ppo_agent import PPOAgent
        return PPOAgent(config, env, device, path=config_file)
    if name == "AWR":
        from mimickit.learning.awr_agent import AWRAgent
        return AWRAgent(config, env, device, path=config_file)
    if name == "AMP":
        from mimickit.learning.amp_agent import AMPAgent
        return AMPAgent(config, env, device, path=config_file)
    if name == "ASE":
        from mimickit.learning.ase_agent import ASEAgent
        return ASEAgent(config, env, device, path=config_file)
    if name == "ADD":
        from mimickit.learning.add_agent import ADDAgent
        return ADDAgent(config, env, device, path=config_file)
    raise ConfigError("%s: agent_name '%s' is unknown; expected PPO, AWR, AMP, ASE or ADD" % (config_file, name))


def load_player(config_file, env, model_file, device=None):
    """The agent of config_file with model_file's weights, to play (test, record, export): a full checkpoint or an
    actor-only export, whose recorded network sets the agent's (see build_agent); no optimizer state."""
    agent = build_agent(config_file, env, device, model_file=model_file)
    agent.load(model_file, weights_only=True)
    return agent
