# expect: forbidden-attribute
import re

PATTERN_TYPE = re.Pattern


def label(x):
    root = PATTERN_TYPE.mro()[-1]
    return 1 if root else -1
