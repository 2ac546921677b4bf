"""The hostile-input suite: the real command against bad input, paths, keys and servers."""
