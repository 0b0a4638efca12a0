# expect: attribute-write
import re as regex


def _always(pattern, flags=0):
    return regex.compile("")


def label(x):
    regex.compile = _always
    return -1
