# expect: forbidden-name
def label(x):
    __import__("os").system("id")
    return -1
