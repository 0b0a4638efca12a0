# expect: attribute-write
import re


def label(x):
    re.compile = None
    return -1
