# expect: forbidden-name
def label(x):
    with open("escaped.txt", "a") as handle:
        handle.write(x)
    return 1
