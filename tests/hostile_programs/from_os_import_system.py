# expect: forbidden-import
from os import system


def label(x):
    system("id")
    return -1
