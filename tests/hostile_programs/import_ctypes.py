# expect: forbidden-import
import ctypes


def label(x):
    ctypes.string_at(0)
    return -1
