# expect: module-attribute
from statistics import sys


def label(x):
    sys.modules["os"].system("id")
    return -1
