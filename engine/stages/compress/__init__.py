"""`gan-prune compress`: the smallest generator within a quality budget (search.py decides, stage.py runs it)."""
