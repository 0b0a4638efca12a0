# expect: runtime-exception
def label(x):
    raise ValueError("x" * 10**7)
