"""build_env: the env class named by an env YAML's ``env_name``, with its keys validated."""
import importlib

from mimickit.engines.engine import ConfigError, load_layered_config as load_env_config


def env_classes():
    """env_name -> class; imported lazily so a broken optional env cannot break the others."""
    from mimickit.envs.char_env import CharEnv
    from mimickit.envs.view_motion_env import ViewMotionEnv
    classes = {"char": CharEnv, "view_motion": ViewMotionEnv}
    for name, module, cls in (("deepmimic", "deepmimic_env", "DeepMimicEnv"), ("amp", "amp_env", "AMPEnv"),
                              ("amp_steering", "amp_steering_env", "AMPSteeringEnv"), ("ase", "ase_env", "ASEEnv"),
                              ("add", "add_env", "ADDEnv")):
        try:
            mod = importlib.import_module("mimickit.envs." + module)
        except ImportError as e:
            if e.name != "mimickit.envs." + module:
                raise
        else:
            classes[name] = getattr(mod, cls)
    return classes


def build_env(env_config_path, engine_config_path, num_envs, device="cpu", visualize=False, overrides=None):
    """-> the env. overrides: {key: value} replacing env YAML keys (e.g. motion_file from the CLI);
    None values are ignored. Config problems raise ConfigError naming the file and key."""
    config = load_env_config(env_config_path)
    path = str(env_config_path)
    name = config.get("env_name")
    classes = env_classes()
    if name is None:
        raise ConfigError("%s: missing required key env_name (one of %s)" % (path, ", ".join(sorted(classes))))
    if name not in classes:
        raise ConfigError("%s: env_name '%s' is unknown; expected one of %s" % (path, name, ", ".join(sorted(classes))))
    cls = classes[name]
    cls.validate_config(config, path)  # the file's own keys, before any override hides a typo
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in cls.CONFIG_KEYS:
            raise ConfigError("--%s does not apply to env_name '%s' (%s)" % (key, name, path))
        config[key] = value
    return cls(config, engine_config_path, num_envs, device, visualize, path=path)
