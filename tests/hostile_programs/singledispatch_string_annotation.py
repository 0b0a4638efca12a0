# expect: module-attribute
import functools


def _target(x: "print('pwned') or int"):
    return 1


def label(x):
    dispatcher = functools.singledispatch(_target)
    dispatcher.register(_target)
    return -1
