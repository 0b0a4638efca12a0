# expect: module-attribute
import functools


class Holder:
    pass


def label(x):
    holder = Holder()
    functools.update_wrapper(holder, label, assigned=("_" "_globals__",), updated=())
    return -1
