# expect: runtime-timeout
def label(x):
    padded = "{:>2000000000}".format(x)
    return len(padded) % 2
