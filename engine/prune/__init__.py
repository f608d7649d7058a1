"""Pruning helpers: weights (torch.nn.utils.prune), channels (torch-pruning DepGraph), residual blocks; one-shot,
iterative and lottery schedules; sensitivity scans. The methods a user picks are in methods.py (a table that loads
no torch, so the studio can list them). The prune and sensitivity stages live in engine/stages/."""
