# expect: runtime-invalid
def label(x):
    return 7 + len(x)
