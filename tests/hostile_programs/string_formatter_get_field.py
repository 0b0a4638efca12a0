# expect: module-attribute
import string


def label(x):
    name = "0." + "_" * 2 + "class" + "_" * 2
    leaked, _ = string.Formatter().get_field(name, [x], {})
    return 1 if leaked else -1
