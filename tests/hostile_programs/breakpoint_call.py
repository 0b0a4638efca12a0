# expect: forbidden-name
def label(x):
    breakpoint()
    return -1
