# expect: attribute-write
from collections import Counter


def label(x):
    alias = Counter
    del alias.most_common
    return -1
