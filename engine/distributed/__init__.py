"""Training on several processes and machines through PyTorch's own runtime (torchrun + DistributedDataParallel).

`context` says who this process is and holds the few collective calls the loops make (a no-op on one process);
`batchnorm` keeps BatchNorm statistics global; `replicas` wraps G and D in DDP; `launch` re-starts a command
through torch.distributed.run. Nothing here imports a stage.
"""

from engine.distributed.context import Context, alone, current, finish, start, worker_environment

__all__ = ["Context", "alone", "current", "finish", "start", "worker_environment"]
