# expect: forbidden-name
def label(x):
    Evil = type("Evil", (int,), {"_" "_eq__": lambda self, other: True})
    return Evil(1)
