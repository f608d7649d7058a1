"""Training on several processes and machines through PyTorch's own runtime (torchrun + DistributedDataParallel).

`context` says who this process is and holds the few collective calls the loops make (a no-op on one process);
`batchnorm` keeps BatchNorm statistics global; `replicas` wraps G and D in DDP; `launch` re-starts a command
through torch.distributed.run; `batches` splits a global batch (torch-free, so the CLI refuses a bad split before
torch loads). Nothing here imports a stage. The names below load `context` (and torch) on first use.
"""

_CONTEXT_NAMES = ("Context", "alone", "current", "finish", "start", "worker_environment")
__all__ = list(_CONTEXT_NAMES)


def __getattr__(name: str):
    if name in _CONTEXT_NAMES:
        from engine.distributed import context

        return getattr(context, name)
    raise AttributeError(name)
