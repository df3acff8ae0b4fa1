"""Command line entry point: build an env (and later an agent), then train or test.

    python mimickit/run.py --arg_file args/view_motion_humanoid_args.txt
    python -m mimickit.run --env_config data/envs/char_humanoid_env.yaml --mode test --num_envs 4

Flags come from the command line and from ``--arg_file`` (MimicKit's format: ``--flag value``
tokens, any number per line, ``#`` comments); command-line flags win over the file's. Without an
agent (no ``--agent_config``, or a view_motion env), ``--mode test`` runs the env with neutral
actions and prints ``mean_return=... mean_episode_length=... episodes=N`` (lengths in seconds).
Problems with flags or configs end the run with one ``error: ...`` line on stderr.
"""
import os
import sys

if __package__ in (None, ""):
    # run as a script: import the package from the repository root, not from mimickit/ itself
    _here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or ".") == _here:
        sys.path.pop(0)
    sys.path.insert(0, os.path.dirname(_here))

import random  # noqa: E402
import shlex  # noqa: E402

# name -> (kind, default, help); kind is a type, or a tuple of allowed strings
FLAGS = {
    "mode": (("train", "test"), "train", "train or test"),
    "num_envs": (int, 1, "number of parallel envs"),
    "engine_config": (str, "data/engines/mujoco_engine.yaml", "engine YAML"),
    "env_config": (str, None, "env YAML (required)"),
    "agent_config": (str, None, "agent YAML"),
    "arg_file": (str, None, "file of further flags; command-line flags override it"),
    "visualize": (bool, False, "true: draw env 0 in meshcat, in real time"),
    "out_dir": (str, "output/", "output folder"),
    "log_file": (str, None, "training log (default: OUT_DIR/log.txt)"),
    "out_model_file": (str, None, "trained model (default: OUT_DIR/model.pt)"),
    "model_file": (str, None, "model to load: train resumes from a checkpoint, test plays it"),
    "int_output_dir": (str, None, "train: also keep the actor of every output step as DIR/model_actor_<iteration>.pt "
                                  "(~3 MB each), to judge a run at its best logged step"),
    "init_model_file": (str, None, "train: start from these weights (an actor-only export too: its critic "
                                   "and the optimizers start fresh), with counters at zero; a fixed action "
                                   "std is the agent config's"),
    "logger": (("txt", "tb", "wandb"), "txt", "training logger"),
    "devices": (list, ["cpu"], "devices, one training worker each: cpu, cuda:0, cpu cpu, cuda:0 cuda:1 (or "
                               "comma-separated); test mode uses the first"),
    "num_workers": (int, 1, "MimicKit's form: this many training workers on --device (on CUDA, worker i on GPU i)"),
    "device": (str, None, "with --num_workers: the device of the workers (cpu or cuda)"),
    "master_port": (int, 29500, "port on which the workers of one machine meet"),
    "seed": (int, None, "seed of torch, numpy and random"),
    "max_samples": (int, None, "training budget in env steps"),
    "test_episodes": (int, 10, "episodes to run in test mode (counted across envs)"),
    "motion_file": (str, None, "overrides the env config's motion_file"),
    "record_motion": (str, None, "test: write each test episode as a clip DIR/episode_<k>.pkl, and DIR/dataset.yaml"),
    "torch_threads": (int, 1, "torch CPU threads (small batches run fastest on one; MuJoCo has its own)"),
}


class UsageError(Exception):
    """A bad flag or flag value; the message names it (and the arg file it came from)."""


def _parse_value(name, raw, where):
    kind = FLAGS[name][0]
    if isinstance(kind, tuple):
        if raw not in kind:
            raise UsageError("--%s %s%s: expected one of %s" % (name, raw, where, ", ".join(kind)))
        return raw
    if kind is bool:
        low = raw.lower()
        if low not in ("true", "false", "1", "0", "yes", "no"):
            raise UsageError("--%s %s%s: expected true or false" % (name, raw, where))
        return low in ("true", "1", "yes")
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise UsageError("--%s %s%s: expected an integer" % (name, raw, where)) from None
    return raw


def _parse_tokens(tokens, where):
    """['--flag', 'value', '--flag=value', ...] -> {name: value}; where: ' (in arg file X)' or ''."""
    values, i = {}, 0
    while i < len(tokens):
        tok = tokens[i]
        if not tok.startswith("--"):
            raise UsageError("unexpected argument '%s'%s; flags look like --name value" % (tok, where))
        name, eq, raw = tok[2:].partition("=")
        if name not in FLAGS:
            import difflib
            close = difflib.get_close_matches(name, list(FLAGS), n=1)
            raise UsageError("unknown flag --%s%s%s" % (name, where, " (did you mean --%s?)" % close[0] if close else ""))
        if FLAGS[name][0] is list:  # every value up to the next flag, each may be comma-separated
            raws = [raw] if eq else []
            while not eq and i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
                raws.append(tokens[i + 1])
                i += 1
            values[name] = [v.strip() for r in raws for v in r.split(",") if v.strip()]
            if not values[name]:
                raise UsageError("flag --%s%s needs a value" % (name, where))
            i += 1
            continue
        if not eq:
            if i + 1 >= len(tokens) or tokens[i + 1].startswith("--"):
                raise UsageError("flag --%s%s needs a value" % (name, where))
            raw = tokens[i + 1]
            i += 1
        values[name] = _parse_value(name, raw, where)
        i += 1
    return values


def parse_args(argv):
    """-> dict of every flag. Raises UsageError."""
    argv = list(argv)
    if "-h" in argv or "--help" in argv:
        print(usage())
        raise SystemExit(0)
    cmd = _parse_tokens(argv, "")
    args = {name: spec[1] for name, spec in FLAGS.items()}
    if cmd.get("arg_file"):
        path = cmd["arg_file"]
        if not os.path.isfile(path):
            raise UsageError("--arg_file %s: file not found" % path)
        where = " (in arg file %s)" % path
        with open(path) as f:
            try:
                tokens = shlex.split(f.read(), comments=True)
            except ValueError as e:
                raise UsageError("arg file %s: %s" % (path, e)) from None
        from_file = _parse_tokens(tokens, where)
        if "arg_file" in from_file:
            raise UsageError("--arg_file%s: arg files cannot include other arg files" % where)
        args.update(from_file)
    args.update(cmd)
    if not args["env_config"]:
        raise UsageError("--env_config is required (or give it in an --arg_file)")
    if args["num_envs"] < 1:
        raise UsageError("--num_envs %d: expected at least 1" % args["num_envs"])
    if args["test_episodes"] < 1:
        raise UsageError("--test_episodes %d: expected at least 1" % args["test_episodes"])
    if args["record_motion"] and args["mode"] != "test":
        raise UsageError("--record_motion records test episodes: it needs --mode test")
    args["devices"] = _worker_devices(args)
    return args


def _worker_devices(args):
    """--devices, or MimicKit's --num_workers N --device D -> the list of devices, one per worker."""
    n, device = args["num_workers"], args["device"]
    if n < 1:
        raise UsageError("--num_workers %d: expected at least 1" % n)
    if device is None:
        if n > 1:
            raise UsageError("--num_workers %d needs --device (cpu or cuda)" % n)
        return args["devices"]
    if device.startswith("cuda"):
        import torch
        have = torch.cuda.device_count()
        if n > have:
            raise UsageError("--num_workers %d --device %s: this machine has %d GPU(s); one worker per GPU"
                             % (n, device, have))
        return ["cuda:%d" % i for i in range(n)] if n > 1 or ":" not in device else [device]
    return [device] * n


def usage():
    lines = ["usage: python -m mimickit.run [--flag value ...]", ""]
    for name, (kind, default, text) in FLAGS.items():
        choices = "|".join(kind) if isinstance(kind, tuple) else ("true|false" if kind is bool else kind.__name__.upper())
        lines.append("  --%-15s %-14s %s (default: %s)" % (name, choices, text, default))
    return "\n".join(lines)


def seed_everything(seed):
    import numpy as np
    import torch
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def run_test_episodes(env, num_episodes, policy=None):
    """Steps env until num_episodes episodes completed (across envs) -> (returns, lengths [s]).

    policy: obs [N, obs_dim] -> action [N, act_dim]; None uses env.neutral_action().
    Ctrl-C stops early and returns what completed.
    """
    import torch
    returns, lengths = [], []
    obs, _ = env.reset()
    try:
        with torch.no_grad():
            while len(returns) < num_episodes:
                action = env.neutral_action() if policy is None else policy(obs)
                obs, _, _, info = env.step(action)
                returns += info["episode_return"].tolist()
                lengths += (info["episode_length"].float() * env.dt).tolist()  # seconds
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    return returns[:num_episodes], lengths[:num_episodes]


def _build_agent(args, env, device):
    """The agent of --agent_config; the network recorded in the model it plays (test) or starts from
    (--init_model_file) wins."""
    from mimickit.learning.agent_builder import build_agent
    model_file = args["model_file"] if args["mode"] == "test" else args.get("init_model_file")
    return build_agent(args["agent_config"], env, device, model_file)


def player_from_arg_file(arg_file, model_file, num_envs, engine_config="data/engines/mujoco_engine.yaml",
                         **overrides):
    """The env and agent an arg file names, built on engine_config (the CPU engine unless told), with
    model_file loaded to play (no optimizer state) -> (env, agent). overrides: env YAML keys to replace
    (the arg file's motion_file is applied unless given here)."""
    from mimickit.envs.env_builder import build_env
    from mimickit.learning.agent_builder import load_player
    args = parse_args(["--arg_file", arg_file])
    overrides.setdefault("motion_file", args["motion_file"])
    env = build_env(args["env_config"], engine_config, num_envs, overrides=overrides)
    return env, load_player(args["agent_config"], env, model_file)


def test_summary(result):
    """One line: mean_return, mean_episode_length (s), full_episode_frac (episodes that reached the
    time limit), then the means of the env's and agent's test metrics (e.g. tracking_error_m, the mean
    body-position error over all steps of a tracking env; task_speed_err_mps of a steering env)."""
    line = "mean_return=%.4f mean_episode_length=%.2f full_episode_frac=%.3f" % (
        result["mean_return"], result["mean_episode_length"], result["full_episode_frac"])
    for name in result.get("metrics", ()):
        line += " %s=%.4f" % (name, result[name])
    return line + " episodes=%d" % result["episodes"]


def _summary(returns, lengths):
    n = len(returns)
    return "mean_return=%.4f mean_episode_length=%.2f episodes=%d" % (
        sum(returns) / max(n, 1), sum(lengths) / max(n, 1), n)


def _import_isaac_gym_first(engine_config):
    """Isaac Gym refuses to load once torch is imported: where the engine YAML names it, import it now
    (if it is missing, building the engine says how to install it)."""
    import importlib

    from mimickit.engines.engine import load_yaml
    try:
        if load_yaml(engine_config).get("engine_name") == "isaac_gym":
            importlib.import_module("isaacgym")
    except Exception:
        pass  # a missing or broken YAML or package is reported where the engine is built


def run(args):
    """Builds the env (and agent) and trains or tests -> exit code."""
    _import_isaac_gym_first(args["engine_config"])
    from mimickit.engines.engine import ConfigError
    from mimickit.envs.env_builder import build_env
    from mimickit.learning import distributed

    devices = args["devices"]
    if args["mode"] == "train" and len(devices) > 1 and not distributed.in_worker_env():
        return distributed.launch(run, args, devices, args["master_port"])  # each worker runs run() again
    import torch
    device = devices[0]
    if args["mode"] == "train" and distributed.in_worker_env():
        device = str(distributed.init_from_env(devices[0]))
    torch.set_num_threads(max(1, args["torch_threads"]))
    if args["seed"] is not None:
        seed_everything(args["seed"] + distributed.rank())  # every worker its own envs' randomness
    if args["mode"] == "train" and not args["agent_config"]:
        raise UsageError("train needs --agent_config")
    try:
        env = build_env(args["env_config"], args["engine_config"], args["num_envs"], device, args["visualize"],
                        overrides={"motion_file": args["motion_file"]})
    except ConfigError:
        raise
    except ValueError as e:  # MJCF and motion data problems found while building
        raise ConfigError(str(e)) from e
    from mimickit.envs.view_motion_env import ViewMotionEnv
    kinematic = isinstance(env, ViewMotionEnv)
    recorder = None
    if args["record_motion"]:
        from mimickit.envs.recorder import EpisodeRecorder
        recorder = EpisodeRecorder(env, args["record_motion"], max_episodes=args["test_episodes"])
    try:
        if args["mode"] == "train":
            if kinematic:
                raise UsageError("train: env '%s' plays clips kinematically; there is nothing to train"
                                 % args["env_config"])
            if args["model_file"] and args["init_model_file"]:
                raise UsageError("train: give --model_file (resume) or --init_model_file (start from weights), not both")
            agent = _build_agent(args, env, device)
            if args["model_file"]:
                agent.load(args["model_file"])  # resume
            elif args["init_model_file"]:
                agent.start_from(args["init_model_file"])
            out_dir = args["out_dir"]
            os.makedirs(out_dir, exist_ok=True)
            agent.train(args["max_samples"],
                        out_model_file=args["out_model_file"] or os.path.join(out_dir, "model.pt"),
                        log_file=args["log_file"] or os.path.join(out_dir, "log.txt"), logger=args["logger"],
                        int_output_dir=args["int_output_dir"])
            distributed.finish()  # several workers: all of them done before any leaves the group
            return 0
        if args["agent_config"] and not kinematic:
            agent = _build_agent(args, env, device)
            if args["model_file"]:
                agent.load(args["model_file"], weights_only=True)
            result = agent.test(args["test_episodes"])
            print(test_summary(result), flush=True)
            return 0
        returns, lengths = run_test_episodes(env, args["test_episodes"])
        print(_summary(returns, lengths), flush=True)
        return 0
    finally:
        if recorder is not None:
            files = recorder.close()
            print("recorded %d episodes to %s" % (len(files), os.path.join(args["record_motion"], "dataset.yaml")),
                  flush=True)
        env.close()


def _exit_on_signal(signum, frame):
    # SIGTERM / SIGHUP would end Python without unwinding: no finally, no atexit, so a meshcat server
    # started for --visualize would outlive the run. As an exception, the run closes its env first.
    raise SystemExit(128 + signum)


def main(argv=None):
    """-> exit code: 0, 2 for a bad flag, 1 for a bad config or a failed simulation."""
    import signal
    import threading
    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None and threading.current_thread() is threading.main_thread() \
                and signal.getsignal(sig) == signal.SIG_DFL:
            signal.signal(sig, _exit_on_signal)
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)  # before any heavy import
        return run(args)
    except UsageError as e:
        _error(e)
        return 2
    except Exception as e:
        if not _is_user_error(e):
            raise
        _error(e)
        return 1


def _is_user_error(e):
    """Errors about the user's files or the simulation, reported in one line (others are bugs)."""
    from mimickit.anim.motion import MotionFormatError
    from mimickit.engines.engine import ConfigError
    from mimickit.envs.base_env import SimulationError
    from mimickit.learning.distributed import WorkerError
    errors = (ConfigError, FileNotFoundError, MotionFormatError, SimulationError, WorkerError)
    try:
        from mimickit.learning.base_agent import CheckpointError
        errors += (CheckpointError,)
    except ImportError:
        pass
    return isinstance(e, errors)


def _error(e):
    print("error: %s" % " ".join(str(e).split()), file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
