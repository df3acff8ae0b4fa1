#!/usr/bin/env bash
# Training on the GPU device machine, which a call may leave running (setsid) between calls.
#   CLIPS="walk run spinkick" bash tools/gpu_train.sh start    one detached PPO run per clip
#   bash tools/gpu_train.sh collect                             actor checkpoints and logs -> $OUT
# A run resumes from its own checkpoint when started again on the same machine.
set -u
mode=${1:?start or collect}
clips=${CLIPS:-"walk run spinkick"}
root=${TRAIN_ROOT:-/tmp/train}
mkdir -p "$root"
for c in $clips; do
  if [ "$mode" = start ]; then
    resume=""
    [ -f "$root/$c/model.pt" ] && resume="--model_file $root/$c/model.pt"
    setsid nohup python3 mimickit/run.py --arg_file "args/deepmimic_humanoid_${c}_ppo_gpu_args.txt" \
      --out_dir "$root/$c" --max_samples "${MAX_SAMPLES:-100000000000}" $resume \
      > "$root/$c.out" 2>&1 < /dev/null &
    echo "started $c $resume"
  else
    cp "$root/$c/model_actor.pt" "$OUT/${c}_actor.pt" 2>/dev/null
    cp "$root/$c/log.txt" "$OUT/${c}_log.txt" 2>/dev/null
    echo "== $c"; tail -n 2 "$root/$c/log.txt" 2>/dev/null; grep -v "^Module\|Warning\|warn" "$root/$c.out" | tail -n 3
  fi
done
