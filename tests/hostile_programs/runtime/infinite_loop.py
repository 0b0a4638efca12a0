# expect: runtime-timeout
def label(x):
    while True:
        pass
