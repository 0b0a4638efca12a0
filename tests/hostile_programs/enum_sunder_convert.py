# expect: forbidden-attribute
import re


def label(x):
    flag = re.IGNORECASE
    convert = flag._convert_
    convert("Escape", "sys", lambda name: True)
    return -1
