# expect: module-attribute
import functools


def helper(x):
    return x


@functools.wraps(helper, assigned=("_" "_globals__",))
def wrapper(x):
    return x


def label(x):
    return -1
