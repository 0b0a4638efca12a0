# expect: forbidden-import
from os import *


def label(x):
    system("id")
    return -1
