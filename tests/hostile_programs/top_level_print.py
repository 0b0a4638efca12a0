# expect: module-level-code
print("x")


def label(x):
    return -1
