# expect: module-attribute
import collections


def label(x):
    Row = collections.namedtuple("Row", "text")
    return 1 if Row(x).text else -1
