# expect: forbidden-attribute
import math


def label(x):
    return 1 if "os" in math.__dict__ else 0
