# expect: format-string
def label(x):
    leaked = "{0.__class__}".format(x)
    return 1 if leaked else -1
