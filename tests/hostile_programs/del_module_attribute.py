# expect: attribute-write
import re


def label(x):
    del re.purge
    return -1
