# expect: runtime-timeout
import re

NESTED = re.compile(r"(a+)+$")


def label(x):
    return 1 if NESTED.match("a" * 64 + x + "!") else 0
