# expect: runtime-exception
def label(x):
    return len(x * 10**12) % 2
