# expect: forbidden-attribute
import re


def label(x):
    return 1 if re._compiler else -1
