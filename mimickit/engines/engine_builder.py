"""build_engine: the engine class named by an engine YAML's ``engine_name``, imported only when chosen
(each needs its own simulator package), with one line on what to install when that package is missing."""
from mimickit.engines.engine import ConfigError, engine_config, load_yaml

# engine_name -> (module in mimickit.engines, class, the package it needs, how to install it)
ENGINES = {
    "mujoco": ("mujoco_engine", "MujocoEngine", "mujoco", "pip install -e ."),
    "mujoco_warp": ("mujoco_warp_engine", "MujocoWarpEngine", "mujoco_warp",
                    "pip install -e '.[gpu]' (NVIDIA Warp and MuJoCo Warp, for an NVIDIA GPU)"),
    "isaac_gym": ("isaac_gym_engine", "IsaacGymEngine", "isaacgym",
                  "download NVIDIA Isaac Gym Preview 4 (https://developer.nvidia.com/isaac-gym), then "
                  "pip install -e isaacgym/python in a Python 3.8 environment"),
}


def engine_class(name, config_file="<engine config>"):
    import importlib
    module, cls, package, install = ENGINES[name]
    try:
        mod = importlib.import_module("mimickit.engines." + module)
    except ImportError as e:
        missing = (e.name or "").split(".")[0]
        if missing in (package, package.split("_")[0], "warp"):
            raise ConfigError("%s: engine_name %s needs the '%s' package, which is not installed: %s"
                              % (config_file, name, package, install)) from e
        raise
    return getattr(mod, cls)


def build_engine(config_file, char_file, num_envs, device="cpu", visualize=False):
    """-> the engine named by the YAML's engine_name, simulating num_envs copies of char_file."""
    config = load_yaml(config_file)
    name = engine_config(config, config_file)["engine_name"]
    return engine_class(name, config_file)(config, char_file, num_envs, device, visualize, path=config_file)
