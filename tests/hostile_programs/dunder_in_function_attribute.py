# expect: dunder-access
def label(x):
    return len(label.__globals__) % 2
