# expect: module-attribute
from re import RegexFlag as Flags


def label(x):
    return 1 if Flags.mro() else -1
