# expect: forbidden-import
import sys


def label(x):
    sys.modules["os"].system("id")
    return -1
