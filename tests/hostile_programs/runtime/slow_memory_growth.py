# expect: runtime-timeout
def label(x):
    keep = []
    for i in range(10**6):
        keep.append(x * 1000 + str(i) * 100000)
    return len(keep) % 2
