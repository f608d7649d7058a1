"""How a global batch splits over processes: refused before any process starts when it does not split evenly."""

from engine.errors import ConfigError


def local_batch(batch_size: int, world: int, where: str = "batch size") -> int:
    """Each process's share of `batch_size` over `world` processes."""
    if batch_size % world:
        raise ConfigError(f"The {where} {batch_size} does not split evenly over {world} processes; use "
                          f"a multiple of {world} (e.g. {max(1, batch_size // world) * world}).")
    return batch_size // world
