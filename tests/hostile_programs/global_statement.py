# expect: global-statement
CALLS = 0


def label(x):
    global CALLS
    CALLS += 1
    return CALLS % 2
