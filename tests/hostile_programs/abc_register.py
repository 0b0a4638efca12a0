# expect: forbidden-attribute
import collections.abc


def label(x):
    collections.abc.Sized.register(int)
    return 1 if isinstance(1, collections.abc.Sized) else -1
