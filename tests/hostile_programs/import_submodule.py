# expect: forbidden-import
import collections.abc


def label(x):
    return 1 if isinstance(x, collections.abc.Sized) else -1
