"""How a global batch splits over processes: refused before any process starts when it does not split evenly."""

from engine.errors import ConfigError


def local_batch(batch_size: int, world: int, where: str = "batch size") -> int:
    """Each process's share of `batch_size` over `world` processes."""
    if batch_size % world:
        raise ConfigError(f"The {where} {batch_size} does not split evenly over {world} processes; use "
                          f"a multiple of {world} (e.g. {max(1, batch_size // world) * world}).")
    return batch_size // world


def check_whole_set_splits(pairs: int, batch_size: int, ctx) -> None:
    """Fewer training pairs than the batch size make the whole set the batch (BatchSampler): on several processes
    it must split evenly too, or the processes would drop rows that one process trains on."""
    if ctx.distributed and pairs < batch_size and pairs % ctx.world:
        raise ConfigError(f"The {pairs} training pairs are fewer than the batch size {batch_size}, so they are the "
                          f"batch, and {pairs} does not split evenly over {ctx.world} processes; use --batch-size "
                          f"{max(1, pairs // ctx.world) * ctx.world}.")
