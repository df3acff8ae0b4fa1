#!/usr/bin/env bash
# Training on the GPU device machine, which a call may leave running (setsid) between calls.
#   CLIPS="walk run spinkick" bash tools/gpu_train.sh start    one detached run per name: a clip (DeepMimic,
#                                                               args/deepmimic_humanoid_<clip>_ppo_gpu_args.txt)
#                                                               or a config (args/<name>_gpu_args.txt, e.g. amp_humanoid,
#                                                               or args/compare/<name>_gpu_args.txt, e.g. add_walk)
#   CLIPS="walk run" bash tools/gpu_train.sh stop               stop those runs (their last checkpoints stay)
#   bash tools/gpu_train.sh collect                             actor checkpoints and logs -> $OUT, as one tar
#                                                               in 15 MB parts ($OUT takes files of 16 MB at
#                                                               most, 8 a call): cat results.tar.part* | tar -x
#   INIT_DIR=warm CLIPS=run bash tools/gpu_train.sh start       start from warm/run_slim.pt (a slim checkpoint:
#                                                               actor, critic and discriminator) or else from
#                                                               warm/run_actor.pt (fine-tune; fresh critic)
#   SLIM=1 CLIPS=run bash tools/gpu_train.sh collect            also the slim checkpoint (model_slim.pt, fp16, no
#                                                               optimizer state: ~1/5 of model.pt) in the tar
#   FULL=1 CLIPS=run bash tools/gpu_train.sh collect            also the full checkpoint (model.pt) in the tar
#   BEST=tracking_error_m CLIPS=run bash tools/gpu_train.sh collect
#                                                               also best_actor.pt: the actor kept (--int_output_dir
#                                                               <run>/int, every logged iteration) at the log row
#                                                               with the lowest value of that column; BEST_N=3
#                                                               also best_actor_2.pt and best_actor_3.pt (the next
#                                                               lowest: in-training figures are noisy, so several
#                                                               candidates go to the CPU evaluation)
#   CKPT_DIR=ckpt CLIPS=run bash tools/gpu_train.sh start       on a fresh machine: resume from ckpt/run_model.pt
#                                                               (a full checkpoint carried back; or its parts,
#                                                               ckpt/run_model.pt.part*)
#   GPU=1 CLIPS=add_walk bash tools/gpu_train.sh start          on a machine of several GPUs: run on GPU 1
# A run resumes from its own checkpoint when started again on the same machine. Each run uses its own
# snapshot of the source, taken when it starts, so later calls (which re-send the working tree) and
# later starts of other runs leave it be.
set -u
mode=${1:?start, stop or collect}
case "$mode" in start|stop|collect) ;; *) echo "gpu_train.sh: unknown mode '$mode' (start, stop or collect)" >&2; exit 2;; esac
clips=${CLIPS:-"walk run spinkick"}
root=${TRAIN_ROOT:-/tmp/train}
mkdir -p "$root"
for c in $clips; do
  if [ "$mode" = start ]; then
    src="$root/src_$c"
    rm -rf "$src" && mkdir -p "$src" && cp -r mimickit args data "$src/"
    resume=""
    parts=$(ls "${CKPT_DIR:-ckpt}/${c}_model.pt" "${CKPT_DIR:-ckpt}/${c}_model.pt.part"* 2>/dev/null)
    if [ -f "$root/$c/model.pt" ]; then
      resume="--model_file $root/$c/model.pt"
    elif [ -n "$parts" ]; then
      mkdir -p "$root/$c" && cat $parts > "$root/$c/model.pt"
      resume="--model_file $root/$c/model.pt"
    elif [ -n "${INIT_DIR:-}" ] && [ -f "$INIT_DIR/${c}_slim.pt" ]; then
      resume="--init_model_file $(cd "$INIT_DIR" && pwd)/${c}_slim.pt"
    elif [ -n "${INIT_DIR:-}" ] && [ -f "$INIT_DIR/${c}_actor.pt" ]; then
      resume="--init_model_file $(cd "$INIT_DIR" && pwd)/${c}_actor.pt"
    fi
    argfile="args/${c}_gpu_args.txt"
    [ -f "$argfile" ] || argfile="args/compare/${c}_gpu_args.txt"
    [ -f "$argfile" ] || argfile="args/deepmimic_humanoid_${c}_ppo_gpu_args.txt"
    (cd "$src" || exit 1; CUDA_VISIBLE_DEVICES=${GPU:-${CUDA_VISIBLE_DEVICES:-0}} setsid nohup python3 mimickit/run.py --arg_file "$argfile" \
      --out_dir "$root/$c" --int_output_dir "$root/$c/int" --max_samples "${MAX_SAMPLES:-100000000000}" $resume \
      > "$root/$c.out" 2>&1 < /dev/null & echo $! > "$root/$c.pid")
    echo "started $c on GPU ${GPU:-0} $resume"
  elif [ "$mode" = stop ]; then
    # by the pid written at start (a `pkill -f <pattern>` in a device call also matches, and kills, the call's
    # own shell when its command line holds the pattern); setsid made the run the leader of its own process
    # group, so the whole group stops
    pid=$(cat "$root/$c.pid" 2>/dev/null)
    if [ -n "$pid" ] && kill -- "-$pid" 2>/dev/null; then
      for _ in $(seq 30); do  # up to 30 s for it to end (an unreaped zombie has ended too)
        case "$(ps -o stat= -p "$pid" 2>/dev/null)" in ""|Z*) break;; esac
        sleep 1
      done
      echo "stopped $c"
    else
      echo "$c: not running"
    fi
    rm -f "$root/$c.pid"
  else
    mkdir -p "$root/collect/$c"
    cp "$root/$c/model_actor.pt" "$root/$c/log.txt" "$root/collect/$c/" 2>/dev/null
    tail -n 200 "$root/$c.out" > "$root/collect/$c/out.txt" 2>/dev/null
    if [ "${SLIM:-0}" = 1 ] && [ -f "$root/$c/model.pt" ]; then
      python3 -m mimickit.learning.checkpoint_precision "$root/$c/model.pt" "$root/collect/$c/model_slim.pt"
    fi
    if [ -n "${BEST:-}" ] && [ -f "$root/$c/log.txt" ]; then
      python3 -c "
import os, shutil, sys
from mimickit.learning.logger import read_log
log = read_log(sys.argv[1])
if sys.argv[3] not in log:
    sys.exit('BEST=%s: no such column in %s (columns: %s)' % (sys.argv[3], sys.argv[1], ' '.join(log)))
values = log[sys.argv[3]]
kept = [i for i, it in enumerate(log['iteration']) if os.path.exists(sys.argv[2] % int(it)) and values[i] == values[i]]
if not kept:
    sys.exit('BEST=%s: no kept actor (--int_output_dir) beside a logged value in %s' % (sys.argv[3], sys.argv[1]))
ranked = sorted(kept, key=lambda i: values[i])[:int(sys.argv[5])]
for rank, i in enumerate(ranked):
    name = 'best_actor.pt' if rank == 0 else 'best_actor_%d.pt' % (rank + 1)
    shutil.copy(sys.argv[2] % int(log['iteration'][i]), os.path.join(sys.argv[4], name))
    print('%s: iteration %d, %s %g' % (name, log['iteration'][i], sys.argv[3], values[i]))
" "$root/$c/log.txt" "$root/$c/int/model_actor_%06d.pt" "$BEST" "$root/collect/$c" "${BEST_N:-1}"
    fi
    if [ "${FULL:-0}" = 1 ] && [ -f "$root/$c/model.pt" ]; then
      cp "$root/$c/model.pt" "$root/collect/$c/model.pt"  # a consistent copy: training may rewrite model.pt
    fi
    echo "== $c"; tail -n 2 "$root/$c/log.txt" 2>/dev/null; grep -v "^Module\|Warning\|warn" "$root/$c.out" | tail -n 3
  fi
done
if [ "$mode" = collect ]; then
  # one tar of every run's folder (<name>/{model_actor.pt,log.txt,out.txt[,model.pt]}) in 15 MB parts:
  # $OUT brings back at most 8 files of 16 MB. Here: cat results.tar.part* | tar -x -C RUNS
  tar -C "$root/collect" -cf "$root/results.tar" . && rm -rf "$root/collect"
  split -b 15m -d -a 1 "$root/results.tar" "$OUT/results.tar.part" && rm "$root/results.tar"
  ls -la "$OUT"
fi
