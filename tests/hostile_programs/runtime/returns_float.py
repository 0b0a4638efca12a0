# expect: runtime-invalid
def label(x):
    return len(x) / 2 + 0.5
