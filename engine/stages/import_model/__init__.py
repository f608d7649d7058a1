"""The import stage: your own trained generator becomes the workspace's dense model (it runs the file's code)."""
