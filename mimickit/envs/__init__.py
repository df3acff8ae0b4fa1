"""Environments: BaseEnv (batched reset/step API), CharEnv (a simulated character), ViewMotionEnv
(kinematic clip playback); build_env picks one from an env YAML."""
