# expect: runtime-exception
def label(x):
    return len((x + "spam") * 10**12) % 2
