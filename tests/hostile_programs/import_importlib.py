# expect: forbidden-import
import importlib


def label(x):
    importlib.import_module("os").system("id")
    return -1
