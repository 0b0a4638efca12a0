# expect: forbidden-import
from . import secrets


def label(x):
    return secrets.check(x)
