# expect: runtime-timeout
def label(x):
    return (len(x) + 3) ** (10**9) % 2
