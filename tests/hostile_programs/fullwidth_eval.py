# expect: non-ascii-name
def label(x):
    return ｅｖａｌ("1")
