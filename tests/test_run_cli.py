"""The command line: both entry forms, arg files with command-line overrides, and one clear
stderr line (no traceback) for each kind of bad flag or config."""
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

ARGS = "args/view_motion_humanoid_args.txt"
SUMMARY = re.compile(r"mean_return=\S+ mean_episode_length=(\S+) episodes=(\d+)")


def start(args):
    env = dict(os.environ, PYTHONPATH="")  # the script form must find the package by itself
    return subprocess.Popen([sys.executable] + args, cwd=str(REPO_ROOT), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True)


def finish(proc):
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def test_script_with_arg_file_prints_the_summary():
    rc, out, err = finish(start(["mimickit/run.py", "--arg_file", ARGS, "--visualize", "false",
                                 "--test_episodes", "2"]))
    assert rc == 0, err
    m = SUMMARY.search(out)
    assert m and m.group(2) == "2", out  # the command line's 2 beats the file's test_episodes


def test_module_form_and_motion_file_override():
    rc, out, err = finish(start(["-m", "mimickit.run", "--arg_file", ARGS, "--visualize=false", "--num_envs", "2",
                                 "--test_episodes", "3", "--seed", "0",
                                 "--motion_file", "data/motions/humanoid/humanoid_run.pkl"]))
    assert rc == 0, err
    m = SUMMARY.search(out)
    assert m and m.group(2) == "3", out
    assert float(m.group(1)) == pytest.approx(0.8, abs=0.04)  # every episode is the 0.8 s run clip


def write(tmp, name, text):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def error_cases(tmp):
    """name -> (argv, text the error line must contain)."""
    char = "data/assets/humanoid/humanoid.xml"
    walk = "data/motions/humanoid/humanoid_walk.pkl"
    view = "env_name: view_motion\nchar_file: %s\nmotion_file: %s\n" % (char, walk)
    bad_args = write(tmp, "bad_args.txt", "--mode test\n--speed 3\n")
    return {
        "unknown_flag": (["--arg_file", ARGS, "--visualize", "false", "--num_env", "2"], "--num_env"),
        "unknown_flag_in_file": (["--arg_file", bad_args], "--speed (in arg file %s)" % bad_args),
        "bad_value": (["--env_config", "data/envs/char_humanoid_env.yaml", "--num_envs", "many"], "--num_envs many"),
        "unknown_key": (["--env_config", write(tmp, "key.yaml", view + "episod_length: 3\n"), "--mode", "test"],
                        "episod_length"),
        "missing_char_file": (["--env_config", write(tmp, "nochar.yaml", "env_name: view_motion\nmotion_file: %s\n"
                                                     % walk), "--mode", "test"], "char_file"),
        "char_file_not_found": (["--env_config", write(tmp, "gone.yaml", "env_name: char\nchar_file: nope/robot.xml\n"),
                                 "--mode", "test"], "nope/robot.xml"),
        "unknown_engine": (["--env_config", write(tmp, "view.yaml", view), "--mode", "test", "--engine_config",
                            write(tmp, "engine.yaml", "engine_name: physx\n")], "physx"),
        "missing_motion_file": (["--env_config", write(tmp, "view2.yaml", view), "--mode", "test",
                                 "--motion_file", "nope/clip.pkl"], "nope/clip.pkl"),
        "train_without_agent": (["--env_config", "data/envs/char_humanoid_env.yaml", "--mode", "train"],
                                "train needs --agent_config"),
    }


def check_one_line(rc, out, err, text):
    assert rc != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert text in lines[0], lines[0]
    assert "Traceback" not in err + out


@pytest.mark.parametrize("case", ["unknown_flag_in_file", "unknown_engine"])
def test_errors_from_a_real_process(tmp_path, case):
    argv, text = error_cases(str(tmp_path))[case]
    check_one_line(*finish(start(["mimickit/run.py"] + argv)), text)


CASES = ["unknown_flag", "unknown_flag_in_file", "bad_value", "unknown_key", "missing_char_file",
         "char_file_not_found", "unknown_engine", "missing_motion_file", "train_without_agent"]


def test_cases_listed(tmp_path):
    assert sorted(CASES) == sorted(error_cases(str(tmp_path)))


@pytest.mark.parametrize("case", CASES)
def test_errors_are_one_clear_line(tmp_path, monkeypatch, capsys, case):
    # in-process (the two tests above cover a real process): main() returns the exit code
    from mimickit.run import main
    monkeypatch.chdir(str(REPO_ROOT))
    argv, text = error_cases(str(tmp_path))[case]
    rc = main(argv)
    captured = capsys.readouterr()
    check_one_line(rc, captured.out, captured.err, text)


def test_every_arg_file_parses_and_names_configs_that_exist_and_validate():
    """Arg files nothing else runs (the GPU ones, the equal-budget comparison's) still point at real,
    valid configs."""
    import glob

    from mimickit.engines.engine import check_keys, load_layered_config
    from mimickit.envs.env_builder import env_classes, load_env_config
    from mimickit.learning.add_agent import ADDAgent
    from mimickit.learning.amp_agent import AMPAgent
    from mimickit.learning.ase_agent import ASEAgent
    from mimickit.learning.awr_agent import AWRAgent
    from mimickit.learning.ppo_agent import PPOAgent
    from mimickit.run import parse_args
    agents = {"PPO": PPOAgent, "AWR": AWRAgent, "AMP": AMPAgent, "ASE": ASEAgent, "ADD": ADDAgent}
    files = sorted(glob.glob(os.path.join(str(REPO_ROOT), "args", "**", "*.txt"), recursive=True))
    assert len(files) >= 20
    for path in files:
        args = parse_args(["--arg_file", path])
        for key in ("env_config", "agent_config", "engine_config", "motion_file"):
            if args.get(key):
                assert os.path.exists(os.path.join(str(REPO_ROOT), args[key])), (path, key, args[key])
        env_cfg = load_env_config(os.path.join(str(REPO_ROOT), args["env_config"]))
        env_classes()[env_cfg["env_name"]].validate_config(env_cfg, args["env_config"])
        if args.get("agent_config"):
            agent_cfg = load_layered_config(os.path.join(str(REPO_ROOT), args["agent_config"]))
            check_keys(agent_cfg, agents[agent_cfg["agent_name"]].CONFIG_KEYS, args["agent_config"])
