# expect: attribute-write
import collections


def _rigged(self, n=None):
    return [("spam", 99)]


def label(x):
    counter_type = collections.Counter
    counter_type.most_common = _rigged
    return -1
