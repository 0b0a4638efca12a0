# expect: attribute-write
import collections


def label(x):
    counts = collections.defaultdict(int)
    counts.default_factory += 1
    return -1
