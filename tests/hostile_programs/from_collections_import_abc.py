# expect: module-attribute
from collections import abc


def label(x):
    return 1 if isinstance(x, abc.Sized) and abc.sys else -1
