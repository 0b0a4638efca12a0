# expect: runtime-timeout
def label(x):
    while True:
        try:
            while True:
                pass
        except BaseException:
            continue
