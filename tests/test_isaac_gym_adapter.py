"""The Isaac Gym engine, without Isaac Gym: its adapter type-checks against the isaacgym-stubs package
(mypy), and choosing it where Isaac Gym is missing ends the run with one line on how to install it."""
import importlib.util
import os
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

ADAPTER = str(REPO_ROOT / "mimickit" / "engines" / "isaac_gym_engine.py")
MYPY_INI = """[mypy]
follow_imports = skip
check_untyped_defs = True
[mypy-isaacgym.*]
ignore_errors = True
"""


def _stubs_dir(tmp_path):
    """The installed isaacgym-stubs as a package 'isaacgym' that mypy can parse: the stub names one
    property 'lambda', a Python keyword, which stops mypy; it is renamed in this copy."""
    from importlib.metadata import files
    stub = [f for f in files("isaacgym-stubs") if str(f).endswith("gymapi.pyi")][0]
    pkg = tmp_path / "stubs" / "isaacgym"
    pkg.mkdir(parents=True, exist_ok=True)
    text = open(str(stub.locate())).read()
    (pkg / "gymapi.pyi").write_text(text.replace("def lambda(", "def lambda_("))
    (pkg / "__init__.pyi").write_text("")
    (tmp_path / "mypy.ini").write_text(MYPY_INI)
    return str(tmp_path / "stubs")


def _mypy(tmp_path, path):
    env = dict(os.environ, MYPYPATH=_stubs_dir(tmp_path))
    return subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(tmp_path / "mypy.ini"),
                           "--cache-dir", str(tmp_path / "cache"), path], capture_output=True, text=True, env=env,
                          cwd=str(REPO_ROOT), timeout=300)


def _have_stubs():
    from importlib.metadata import PackageNotFoundError, version
    try:
        version("isaacgym-stubs")
        return importlib.util.find_spec("mypy") is not None
    except PackageNotFoundError:
        return False


@pytest.mark.skipif(not _have_stubs(), reason="mypy and isaacgym-stubs (the test extra) are not installed")
def test_the_adapter_type_checks_against_the_isaac_gym_stubs(tmp_path):
    proc = _mypy(tmp_path, ADAPTER)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the check has teeth: two calls the stubs reject
    bad = tmp_path / "bad_adapter.py"
    bad.write_text(open(ADAPTER).read()
                   .replace("self.gym.simulate(self.sim)", "self.gym.simulate(self.sim, 1)")
                   .replace("plane.normal = gymapi.Vec3(0.0, 0.0, 1.0)", "plane.normal = (0.0, 0.0, 1.0)"))
    proc = _mypy(tmp_path, str(bad))
    assert proc.returncode == 1
    assert 'Too many arguments for "simulate" of "Gym"' in proc.stdout
    assert 'variable has type "Vec3"' in proc.stdout


@pytest.mark.skipif(importlib.util.find_spec("isaacgym") is not None, reason="Isaac Gym is installed here")
def test_choosing_isaac_gym_without_it_ends_with_one_line(tmp_path):
    cfg = tmp_path / "isaac_gym.yaml"
    cfg.write_text("engine_name: isaac_gym\n")
    proc = subprocess.run([sys.executable, "mimickit/run.py", "--env_config", "data/envs/char_humanoid_env.yaml",
                           "--engine_config", str(cfg), "--mode", "test"], cwd=str(REPO_ROOT), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: %s: engine_name isaac_gym needs the 'isaacgym' package, which is not "
                               "installed: download NVIDIA Isaac Gym Preview 4" % cfg), lines[0]
