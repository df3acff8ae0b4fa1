"""Correctness of the GPU engine on the device: agreement with the CPU engine over 2 s of PD control
with random targets, exact state readback, and DeepMimic's reward of 1 on the reference."""
import sys
import os
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import torch  # noqa: E402

from mimickit.engines.compare import max_state_diff  # noqa: E402
from mimickit.engines.engine_builder import build_engine  # noqa: E402
from mimickit.envs.env_builder import build_env  # noqa: E402

dev = sys.argv[1] if len(sys.argv) > 1 else "cuda:0"
char = "data/assets/humanoid/humanoid.xml"
t = time.time()
g = build_engine("data/engines/mujoco_warp_engine.yaml", char, 8, device=dev)
c = build_engine("data/engines/mujoco_engine.yaml", char, 8)
print("engines built in %.1f s" % (time.time() - t), flush=True)
worst = max_state_diff(g, c, 60)
print("gpu vs cpu engine, max abs diff over 2 s:", {k: "%.2e" % v for k, v in worst.items()}, flush=True)
env = build_env("data/envs/deepmimic_humanoid_env.yaml", "data/engines/mujoco_warp_engine.yaml", 64, dev)
env.reset()
r = env._compute_reward()
print("deepmimic reward on the reference: min %.6f max %.6f" % (r.min().item(), r.max().item()), flush=True)
