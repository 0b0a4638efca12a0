# expect: module-attribute
import statistics


def _escape(module):
    return module.sys


def label(x):
    return 1 if _escape(statistics) else -1
