# expect: label-signature
import functools


@functools.lru_cache(maxsize=None)
def label(x):
    return 0
