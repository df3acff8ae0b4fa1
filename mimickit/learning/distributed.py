"""Training one model on several processes, one per device (torch.distributed).

Every worker steps its own envs with its own seed and computes gradients on its own samples; then

- gradients are averaged across workers before every optimizer step (``average_gradients``, in
  ``MinibatchStep``), so every worker applies the same step to the same parameters;
- the running normalizers merge every worker's batch exactly (``sum_``), so they stay equal too;
- the parameters start equal (``broadcast_modules`` from rank 0) and are checked equal at every log row
  (``check_in_sync``);
- the logged statistics are averaged (losses) or summed (episodes), and only rank 0 writes the log, the
  checkpoints and the progress bar.

Backends: gloo for CPU workers, NCCL for GPU workers. Processes find each other through the usual
environment variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT): ``launch`` sets them
for the workers it starts on this machine, ``torchrun`` sets them on every host.
"""
import os
import signal

import torch
import torch.distributed as dist


def active():
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank():
    return dist.get_rank() if active() else 0


def world_size():
    return dist.get_world_size() if active() else 1


def is_main():
    return rank() == 0


def in_worker_env():
    """Whether this process was started as one worker of several (by launch or torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env(device):
    """Join the process group the environment variables describe; -> this worker's device."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", init_method="env://")
    return device


def finish():
    """End this worker's part of a run that finished normally: wait for the others, then leave the process
    group. A process that exits with the group still up can abort while another worker tears its side down
    (C++ "terminate called without an active exception", SIGABRT: seen once in CI after a complete run)."""
    if dist.is_available() and dist.is_initialized():
        if dist.get_world_size() > 1:
            dist.barrier()
        dist.destroy_process_group()


# ---------------- collective steps ----------------
def sum_(tensor):
    """Sum tensor over the workers, in place (no-op on one worker) -> tensor."""
    if active():
        dist.all_reduce(tensor)
    return tensor


def average_gradients(params):
    """Replace every parameter's gradient by its mean over the workers (one all-reduce)."""
    if not active():
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def broadcast_modules(modules):
    """Give every worker rank 0's parameters and buffers (normalizer statistics included)."""
    if not active():
        return
    for module in modules:
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, 0)


def check_in_sync(modules):
    """Raise RuntimeError on every worker if any parameter or buffer differs between workers."""
    if not active():
        return
    tensors = [t for m in modules for t in list(m.parameters()) + list(m.buffers()) if t.is_floating_point()]
    sums = torch.stack([t.detach().double().sum() for t in tensors])  # [K] a fingerprint per tensor
    lo, hi = sums.clone(), sums.clone()
    dist.all_reduce(lo, op=dist.ReduceOp.MIN)
    dist.all_reduce(hi, op=dist.ReduceOp.MAX)
    if bool((lo != hi).any()):
        raise RuntimeError("the workers' parameters differ (%d of %d tensors): training is out of sync"
                           % (int((lo != hi).sum()), len(tensors)))


# ---------------- starting workers on this machine ----------------
def launch(worker, args, devices, master_port):
    """Run worker(args) in one process per device (args["devices"] set to [that device]) and wait.
    -> 0, or raise WorkerError naming the first worker that failed and why; the others are stopped."""
    import torch.multiprocessing as mp
    ctx = mp.start_processes(_worker_entry, args=(worker, args, list(devices), int(master_port)), nprocs=len(devices),
                             join=False, start_method="spawn")
    try:
        while not ctx.join():
            pass
    except mp.ProcessRaisedException as e:
        last = [line for line in str(e).strip().splitlines() if line.strip()][-1]
        raise WorkerError("worker %d (%s) failed: %s" % (e.error_index, devices[e.error_index], last.strip())) from None
    except mp.ProcessExitedException as e:
        how = ("was killed by %s" % signal.Signals(-e.exit_code).name if e.exit_code is not None and e.exit_code < 0
               else "exited with code %s" % e.exit_code)
        raise WorkerError("worker %d (%s) %s" % (e.error_index, devices[e.error_index], how)) from None
    finally:
        for p in ctx.processes:  # whatever happened: no worker outlives the run
            if p.is_alive():
                p.kill()
            p.join()
    return 0


class WorkerError(RuntimeError):
    """A worker of a distributed run failed; the message names it and the cause."""


def _worker_entry(rank, worker, args, devices, master_port):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(len(devices)),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(master_port))
    code = worker(dict(args, devices=[devices[rank]]))
    if code:
        raise SystemExit(code)
