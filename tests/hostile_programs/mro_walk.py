# expect: forbidden-attribute
def label(x):
    base = x.__class__.__mro__[-1]
    return 1 if base else -1
