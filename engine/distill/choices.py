"""The names a person picks for distillation (loss, discriminator, learning-rate schedule) and their defaults, free
of torch so the CLI and the studio read them before torch loads; the modules that implement them import these."""

OUTPUT_LOSSES = ("l1", "mse")  # the student's image against the teacher's
DISCRIMINATORS = ("pruned", "teacher", "match")  # as pruned, the teacher's full D, the teacher's D cut to G's share
LR_SCHEDULES = ("constant", "cosine")
DEFAULT_LR = 4e-3  # for distillation alone; with the GAN term on, 2e-4 (the training default) is safer
DEFAULT_ADVERSARIAL = 0.0
DEFAULT_SCHEDULE = "cosine"
# The quick FID probe needs at least twice the feature net's 128 features; fewer would be silently raised to this.
MIN_PROBE_SAMPLES = 256
