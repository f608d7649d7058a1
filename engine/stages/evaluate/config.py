"""The evaluate stage's settings, free of torch so the CLI and the studio read them before torch loads."""

from __future__ import annotations

from dataclasses import dataclass, replace

from engine.config import check_fields, setting
from engine.errors import ConfigError

FEATURE_NETS = ("auto", "digit-cnn", "inception", "none")


@dataclass(frozen=True)
class EvaluateConfig:
    # generated images per variant and seed (and real images, up to the data set's size)
    samples: int = setting(5000, min=2, metavar="N", help="generated images per variant and seed (default 5000; at "
                                                          "least 2x the feature size)",
                           label="Images per model", unit=" images", step=500,
                           tip="Generated images compared with the real ones for FID and precision/recall. More is "
                               "steadier.")
    seeds: int = setting(1, min=1, metavar="K", help="repeat with K seeds, report mean ± std", label="Repeats",
                         unit=" times", tip="Repeat with different random inputs to show each number as mean ± spread.")
    batch: int = setting(500, help="generation batch size")
    latency: bool = setting(True, help="skip the latency measurements", label="Latency",
                            special="Measure the time per image", tip="Time each model at batch 1 and 64 on this "
                                                                       "computer.")
    # auto: the digit classifier for MNIST, a classifier trained once and cached for other labelled data, a net trained
    # without labels (self-supervised) and cached for unlabelled data | digit-cnn | inception (on disk) | none | PATH.pt
    feature_net: str = setting("auto", help="auto (bundled digit net for MNIST; for other data a net trained once and "
                                            "cached: a classifier on labelled data, self-supervised on unlabelled), "
                                            "digit-cnn, inception (weights on disk only), none, or a .pt file")
    latency_runs: int = setting(20, metavar="N", help="timed runs per batch size (median)")
    # CPU threads for torch and ORT; None = torch's current setting
    threads: int | None = setting(None, help="CPU threads for torch and ONNX Runtime")
    seed: int = setting(0, help="first seed (latents and the real-image subset)")
    quick: bool = setting(False, label="Quick", special="Fewer images (faster, noisier numbers)",
                          tip="Use 1,000 images and fewer timing runs: seconds instead of a minute. Overrides the "
                              "count above.")  # 1,000 samples and 5 latency runs

    def validate(self) -> None:
        check_fields(self, "evaluate")  # types, and no NaN/inf, before the ranges below
        for name in ("samples", "seeds", "batch", "latency_runs"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ConfigError(f"{name} must be a whole number above 0 (got {v!r}).")
        if self.samples < 2:
            raise ConfigError(f"samples must be at least 2 (got {self.samples}).")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads <= 0):
            raise ConfigError(f"threads must be a whole number above 0 or left unset (got {self.threads!r}).")
        if not isinstance(self.feature_net, str) or not (self.feature_net in FEATURE_NETS
                                                         or self.feature_net.endswith(".pt")):
            raise ConfigError(f"feature_net must be one of {', '.join(FEATURE_NETS)} or a .pt file "
                              f"(got {self.feature_net!r}).")
        if self.feature_net == "inception":
            from engine.metrics.inception import require_weights

            require_weights()  # refuse at the edge, before any work, with where to put the file

    def effective(self) -> EvaluateConfig:
        if not self.quick:
            return self
        return replace(self, samples=min(self.samples, 1000), latency_runs=min(self.latency_runs, 5), quick=False)
