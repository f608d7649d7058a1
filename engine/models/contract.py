"""What the rest of the engine relies on from a model: the generator and discriminator contracts as typing.Protocols.

Every arch's builder is checked against these once, where the model is built (engine.models.build_generator /
build_discriminator), so a model that lacks a member is refused there in one sentence instead of failing deep in
pruning or export. Code that needs to tell models apart asks `isinstance(model, Discriminator)` (it has logits) or
`isinstance(model, TakesLatents)` (it takes latents), never hasattr; a discriminator also has Generator's
members, so `Generator` alone does not tell the roles apart.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from engine.models.spec import SpecError


@runtime_checkable
class Generator(Protocol):
    """Makes images [batch, *image_shape] in [-1, 1] (forward); `spec()` holds every layer's width."""

    image_shape: tuple[int, int, int]

    def __call__(self, *inputs: Any) -> Any: ...

    def spec(self) -> dict:
        """Every layer's width as JSON ({"arch", "role": "generator", ...}): spec + state_dict rebuild the model."""
        ...


@runtime_checkable
class TakesLatents(Protocol):
    """Anything fed latents [batch, latent_dim]: what example inputs and MAC counts go by."""

    latent_dim: int


@runtime_checkable
class MakesOwnInput(Protocol):
    """A model that builds its own example input (image-to-image G and D: images, or (input, output) pairs)."""

    def example_input(self, batch: int) -> Any: ...


@runtime_checkable
class LatentGenerator(Generator, TakesLatents, Protocol):
    """A generator of latents [batch, latent_dim] (and, when conditional, class labels)."""


@runtime_checkable
class ImageToImageGenerator(Generator, MakesOwnInput, Protocol):
    """A generator of images from images [batch, *input_shape]; it makes its own example input."""

    input_shape: tuple[int, int, int]


@runtime_checkable
class Discriminator(Protocol):
    """Images in; `logits` gives one raw score per image (forward: its sigmoid)."""

    def logits(self, x: Any) -> Any: ...

    # spec() too: check_contract requires it; isinstance asks only for logits, so it tells any D from any G


@runtime_checkable
class HasBlocks(Protocol):
    """A generator with removable residual blocks (`gan-prune prune --method block`)."""

    def block_names(self) -> list[str]: ...

    def remove_blocks(self, names: list[str]) -> None: ...


_MEMBERS = {Generator: ("image_shape", "spec"), Discriminator: ("logits", "spec")}


def check_contract(model: Any, contract: type, arch: str) -> Any:
    """Refuse a built model that lacks a member of its contract (SpecError names the arch and the members); a
    generator takes latents (latent_dim) or images (input_shape)."""
    missing = [m for m in _MEMBERS[contract] if not hasattr(model, m)]
    if contract is Generator and not (hasattr(model, "latent_dim") or hasattr(model, "input_shape")):
        missing.append("latent_dim (or input_shape)")
    if missing:
        raise SpecError(f"The '{arch}' {contract.__name__.lower()} lacks {', '.join(missing)}, which the engine "
                        f"relies on (see engine/models/contract.py); add them to the model class.")
    return model
