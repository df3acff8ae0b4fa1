"""Export the actor of a training checkpoint for playback (fp16 or int8, no critic, no optimizer).

    python tools/export_actor.py --env_config data/envs/deepmimic_humanoid_env.yaml \
        --agent_config data/agents/deepmimic_humanoid_ppo_gpu_agent.yaml \
        --motion_file data/motions/humanoid/humanoid_walk.pkl \
        --model_file output/.../model.pt --out data/models/deepmimic_humanoid_walk_ppo.pt [--precision int8]

--model_file may also be an actor file (model_actor.pt, or a shipped model): it is then stored again at
--precision, e.g. a training run's fp16 actor as int8 (half the size; mimickit/learning/checkpoint_precision.py).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mimickit.envs.env_builder import build_env  # noqa: E402
from mimickit.learning.checkpoint_precision import PRECISIONS  # noqa: E402
from mimickit.learning.agent_builder import build_agent  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--env_config", required=True)
    p.add_argument("--agent_config", required=True)
    p.add_argument("--engine_config", default="data/engines/mujoco_engine.yaml")
    p.add_argument("--motion_file", default=None)
    p.add_argument("--model_file", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--precision", default="fp16", choices=PRECISIONS)
    args = p.parse_args(argv)
    env = build_env(args.env_config, args.engine_config, 1, overrides={"motion_file": args.motion_file})
    agent = build_agent(args.agent_config, env, model_file=args.model_file)  # a full checkpoint or an actor file
    state = agent.load(args.model_file, weights_only=True)
    agent.restore_counters(state)  # kept in the export (load leaves them for weights only)
    agent.save_actor(args.out, precision=args.precision)
    print("wrote %s (%.1f MB), iteration %d, %d samples (%d with the runs before it)" % (
        args.out, os.path.getsize(args.out) / 1e6, agent.iteration, agent.sample_count,
        agent.prior_samples + agent.sample_count))
    env.close()


if __name__ == "__main__":
    main()
