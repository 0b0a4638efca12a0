# expect: attribute-write
import math


def label(x):
    math.pi += 1
    return -1
