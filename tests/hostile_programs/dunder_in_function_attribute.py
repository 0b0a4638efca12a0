# expect: forbidden-attribute
def label(x):
    return len(label.__globals__) % 2
