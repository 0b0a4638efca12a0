# expect: runtime-timeout
import itertools


def label(x):
    if not x.isascii():
        return sum(itertools.repeat(1, 10**15)) % 2
    return len(x) % 2
