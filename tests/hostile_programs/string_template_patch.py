# expect: attribute-write
import string


def label(x):
    string.Template.delimiter = "%"
    return -1
