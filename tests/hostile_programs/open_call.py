# expect: forbidden-name
def label(x):
    with open("/etc/passwd") as handle:
        return 1 if x in handle.read() else 0
