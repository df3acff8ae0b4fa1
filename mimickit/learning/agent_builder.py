"""Agent named by an agent YAML's agent_name."""
from mimickit.engines.engine import ConfigError, load_yaml


def build_agent(config_file, env, device="cpu"):
    config = load_yaml(config_file)
    name = config.get("agent_name")
    if name == "PPO":
        from mimickit.learning.ppo_agent import PPOAgent
        return PPOAgent(config, env, device, path=config_file)
    if name == "AWR":
        from mimickit.learning.awr_agent import AWRAgent
        return AWRAgent(config, env, device, path=config_file)
    raise ConfigError("%s: agent_name '%s' is unknown; expected PPO or AWR" % (config_file, name))
